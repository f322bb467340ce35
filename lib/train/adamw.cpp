#include "train/adamw.h"

#include <cmath>
#include <map>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/names.h"
#include "train/adamw_kernel.h"

namespace lth::train {

bool decays_by_default(const std::string& name) { return model::names::decays_by_default(name); }

AdamW::AdamW(std::vector<std::pair<std::string, at::Tensor>> parameters, AdamWOptions options,
             std::function<bool(const std::string&)> decay)
    : params_(std::move(parameters)), options_(options) {
  for (const auto& [name, p] : params_) decay_.push_back(decay ? decay(name) : true);
  exp_avg_.resize(params_.size());
  exp_avg_sq_.resize(params_.size());
}

namespace {

bool fusable(const at::Tensor& p, const at::Tensor& g, const at::Tensor& m, const at::Tensor& v) {
  for (const at::Tensor* t : {&p, &g, &m, &v}) {
    if (!t->device().is_cpu() || t->scalar_type() != at::kFloat || !t->is_contiguous() || t->numel() != p.numel())
      return false;
  }
  return true;
}

}  // namespace

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double bias_correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double bias_correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_));
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].second;
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (!exp_avg_[i].defined()) {
      exp_avg_[i] = torch::zeros_like(p, torch::MemoryFormat::Preserve);
      exp_avg_sq_[i] = torch::zeros_like(p, torch::MemoryFormat::Preserve);
    }
    const bool decays = decay_[i] && options_.weight_decay != 0.0;
    if (options_.fused && fusable(p, g, exp_avg_[i], exp_avg_sq_[i])) {
      AdamWScalars s;
      s.decay = decays ? static_cast<float>(1.0 - lr * options_.weight_decay) : 1.0f;
      s.beta1 = static_cast<float>(options_.beta1);
      s.one_minus_beta1 = static_cast<float>(1.0 - options_.beta1);
      s.beta2 = static_cast<float>(options_.beta2);
      s.one_minus_beta2 = static_cast<float>(1.0 - options_.beta2);
      s.bias_correction2_sqrt = static_cast<float>(bias_correction2_sqrt);
      s.eps = static_cast<float>(options_.eps);
      s.neg_step_size = static_cast<float>(-step_size);
      float* pp = p.data_ptr<float>();
      const float* gp = g.data_ptr<float>();
      float* mp = exp_avg_[i].data_ptr<float>();
      float* vp = exp_avg_sq_[i].data_ptr<float>();
      at::parallel_for(0, p.numel(), 1 << 15,
                       [&](int64_t begin, int64_t end) { adamw_update(pp, gp, mp, vp, begin, end, s); });
      continue;
    }
    if (decays) p.mul_(1.0 - lr * options_.weight_decay);
    exp_avg_[i].mul_(options_.beta1).add_(g, 1.0 - options_.beta1);
    exp_avg_sq_[i].mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
    auto denom = (exp_avg_sq_[i].sqrt() / bias_correction2_sqrt).add_(options_.eps);
    p.addcdiv_(exp_avg_[i], denom, -step_size);
  }
}

void AdamW::zero_grad() {
  for (auto& [name, p] : params_) {
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
  }
}

size_t AdamW::index_of(const std::string& name) const {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].first == name) return i;
  LTH_FAIL(Error, "AdamW: no parameter named '{}'", name);
}

at::Tensor AdamW::exp_avg(const std::string& name) const { return exp_avg_[index_of(name)]; }
at::Tensor AdamW::exp_avg_sq(const std::string& name) const { return exp_avg_sq_[index_of(name)]; }

std::vector<std::pair<std::string, at::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!exp_avg_[i].defined()) continue;
    out.emplace_back("exp_avg." + params_[i].first, exp_avg_[i]);
    out.emplace_back("exp_avg_sq." + params_[i].first, exp_avg_sq_[i]);
  }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, at::Tensor>>& state, int64_t steps) {
  std::map<std::string, at::Tensor> by_name(state.begin(), state.end());
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto m = by_name.find("exp_avg." + params_[i].first);
    auto v = by_name.find("exp_avg_sq." + params_[i].first);
    if (m == by_name.end() || v == by_name.end()) {
      exp_avg_[i] = exp_avg_sq_[i] = at::Tensor();
      continue;
    }
    LTH_CHECK(m->second.sizes() == params_[i].second.sizes(), ShapeError, "optimizer state for '{}' has the wrong shape",
              params_[i].first);
    exp_avg_[i] = m->second.to(params_[i].second.device(), params_[i].second.scalar_type()).clone();
    exp_avg_sq_[i] = v->second.to(params_[i].second.device(), params_[i].second.scalar_type()).clone();
  }
  steps_ = steps;
}

}  // namespace lth::train
