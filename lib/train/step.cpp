#include "train/step.h"

#include <torch/torch.h>

#include "core/error.h"
#include "core/torch_compat.h"
#include "train/adamw.h"

namespace lth::train {

void with_precision(const std::string& precision, const std::function<void()>& fn) {
  if (precision == "fp32") {
    fn();
    return;
  }
  LTH_CHECK(precision == "bf16", UsageError, "--precision must be fp32 or bf16, got '{}'", precision);
  const bool was = compat::cpu_autocast_enabled();
  const auto dtype = compat::cpu_autocast_dtype();
  compat::set_cpu_autocast_enabled(true);
  compat::set_cpu_autocast_dtype(at::kBFloat16);
  try {
    fn();
  } catch (...) {
    at::autocast::clear_cache();
    compat::set_cpu_autocast_enabled(was);
    compat::set_cpu_autocast_dtype(dtype);
    throw;
  }
  at::autocast::clear_cache();
  compat::set_cpu_autocast_enabled(was);
  compat::set_cpu_autocast_dtype(dtype);
}

prune::NamedTensors masks_on_device(const prune::Mask* mask, const c10::Device& device) {
  prune::NamedTensors out;
  if (mask == nullptr) return out;
  for (const auto& [name, m] : mask->tensors) out[name] = m.to(device, torch::kFloat32);
  return out;
}

void mask_and_clip_gradients(model::Bert& bert, const prune::NamedTensors& masks,
                             const std::vector<at::Tensor>& parameters, double max_grad_norm) {
  torch::NoGradGuard no_grad;
  if (!masks.empty()) {  // a dense run does not build the name table every step
    auto params = bert->named_parameters();
    for (const auto& [name, m] : masks) {
      auto* p = params.find(name);
      if (p != nullptr && p->grad().defined()) p->mutable_grad().mul_(m);
    }
  }
  if (max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(parameters, max_grad_norm);
}

void optimizer_step(AdamW& optimizer, double lr, model::Bert& bert, const prune::NamedTensors& masks) {
  optimizer.step(lr);
  optimizer.zero_grad();
  if (!masks.empty()) prune::apply_mask_tensors(bert, masks);
}

}  // namespace lth::train
