// AdamW exactly as torch.optim.AdamW (single-tensor path, amsgrad off) computes it, with named
// parameters, per-parameter weight decay, and state that can be saved for exact resume.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace lth::train {

struct AdamWOptions {
  double lr = 2e-5;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  // One pass per parameter (train/adamw_kernel.h) for contiguous float32 CPU tensors; false (or any
  // other tensor) takes torch's op-by-op path, which reads and writes each tensor several times.
  bool fused = true;
};

// HF's convention: no weight decay on biases and LayerNorm parameters (model::names::decays_by_default).
bool decays_by_default(const std::string& parameter_name);

class AdamW {
 public:
  // `decay(name)` says whether a parameter gets weight decay (default: every parameter).
  AdamW(std::vector<std::pair<std::string, at::Tensor>> parameters, AdamWOptions options,
        std::function<bool(const std::string&)> decay = nullptr);

  // One update with the gradients in .grad() (parameters without a gradient are skipped), at `lr`.
  void step(double lr);
  void step() { step(options_.lr); }
  void zero_grad();

  int64_t steps() const { return steps_; }
  const AdamWOptions& options() const { return options_; }
  const std::vector<std::pair<std::string, at::Tensor>>& parameters() const { return params_; }
  at::Tensor exp_avg(const std::string& name) const;
  at::Tensor exp_avg_sq(const std::string& name) const;

  // Moments as "exp_avg.<name>" / "exp_avg_sq.<name>" (only parameters that have taken a step).
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, at::Tensor>>& state, int64_t steps);

 private:
  size_t index_of(const std::string& name) const;

  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<bool> decay_;
  std::vector<at::Tensor> exp_avg_, exp_avg_sq_;
  AdamWOptions options_;
  int64_t steps_ = 0;
};

}  // namespace lth::train
