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
  if (max_grad_norm > 0) clip_grad_norm(parameters, max_grad_norm);
}

// torch::nn::utils::clip_grad_norm_ (2-norm) op for op, so dense gradients clip bit for bit as
// there, plus sparse gradients (lazy embedding rows), which are coalesced and measured by their values.
double clip_grad_norm(const std::vector<at::Tensor>& parameters, double max_norm) {
  std::vector<at::Tensor> grads;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    if (p.grad().is_sparse() && !p.grad().is_coalesced()) p.mutable_grad() = p.grad().coalesce();
    grads.push_back(p.grad().is_sparse() ? p.grad()._values() : p.grad());
  }
  if (grads.empty()) return 0.0;
  std::vector<at::Tensor> norms;
  norms.reserve(grads.size());
  for (const auto& g : grads) norms.push_back(g.norm(2));
  const at::Tensor total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
  const at::Tensor coef = torch::clamp(max_norm / (total + 1e-6), c10::nullopt, 1.0);
  for (auto& g : grads) g.mul_(coef);
  return total.item<double>();
}

void optimizer_step(AdamW& optimizer, double lr, model::Bert& bert, const prune::NamedTensors& masks) {
  optimizer.step(lr);
  optimizer.zero_grad();
  if (!masks.empty()) prune::apply_mask_tensors(bert, masks);
}

}  // namespace lth::train
