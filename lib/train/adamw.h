// AdamW exactly as torch.optim.AdamW (single-tensor path, amsgrad off) computes it, with named
// parameters, per-parameter weight decay, and state that can be saved for exact resume.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "train/adamw_kernel.h"

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
  // Call flush() first when a parameter has lazy rows.
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, at::Tensor>>& state, int64_t steps);

  // Lazy rows, for a matrix that each forward reads only at some rows and whose gradient is then a
  // sparse COO tensor of those rows (the word embeddings: 30522 rows, most of BERT-Tiny's parameters,
  // a few hundred of them in a batch). A step updates only the rows its gradient has; each other
  // row's update is kept for later: catch_up(rows) applies what is pending to the rows a forward is
  // about to read, flush() to all of them (before anything reads the whole matrix: evaluation,
  // checkpoints, saving). What is applied late is the same float arithmetic with a zero gradient, in
  // the same order, so the weights and moments are bit for bit those of the dense update. A dense
  // gradient for it is also accepted (everything pending is applied first).
  // Returns false (and changes nothing) when the parameter is not a contiguous float32 CPU matrix.
  bool set_lazy_rows(const std::string& name);
  // Applies what is pending to the rows of the lazy parameter that `rows` (any shape, int64) names;
  // ids outside the matrix are ignored (the forward reports them).
  void catch_up(const at::Tensor& rows);
  void flush();

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);

  struct LazyRows {
    size_t index = kNone;               // into params_
    std::vector<AdamWScalars> pending;  // the updates since the last flush, oldest first
    std::vector<int64_t> applied;       // per row: how many of `pending` it has had
    std::vector<float> zeros;           // one row of zero gradient
  };

  size_t index_of(const std::string& name) const;
  AdamWScalars scalars(double lr, bool decays, double bias_correction2_sqrt, double step_size) const;
  void catch_up_row(int64_t row);
  void lazy_step(const at::Tensor& grad, const AdamWScalars& s);

  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<bool> decay_;
  std::vector<at::Tensor> exp_avg_, exp_avg_sq_;
  AdamWOptions options_;
  int64_t steps_ = 0;
  LazyRows lazy_;
};

}  // namespace lth::train
