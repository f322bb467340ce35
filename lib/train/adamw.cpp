#include "train/adamw.h"

#include <algorithm>
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

AdamWScalars AdamW::scalars(double lr, bool decays, double bias_correction2_sqrt, double step_size) const {
  AdamWScalars s;
  s.decay = decays ? static_cast<float>(1.0 - lr * options_.weight_decay) : 1.0f;
  s.beta1 = static_cast<float>(options_.beta1);
  s.one_minus_beta1 = static_cast<float>(1.0 - options_.beta1);
  s.beta2 = static_cast<float>(options_.beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - options_.beta2);
  s.bias_correction2_sqrt = static_cast<float>(bias_correction2_sqrt);
  s.eps = static_cast<float>(options_.eps);
  s.neg_step_size = static_cast<float>(-step_size);
  return s;
}

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
    if (i == lazy_.index && g.is_sparse()) {
      lazy_step(g, scalars(lr, decays, bias_correction2_sqrt, step_size));
      continue;
    }
    if (i == lazy_.index) flush();  // a dense gradient: every row is brought up to date first
    if (options_.fused && fusable(p, g, exp_avg_[i], exp_avg_sq_[i])) {
      const AdamWScalars s = scalars(lr, decays, bias_correction2_sqrt, step_size);
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

bool AdamW::set_lazy_rows(const std::string& name) {
  const size_t i = index_of(name);
  const at::Tensor& p = params_[i].second;
  if (p.dim() != 2 || !p.device().is_cpu() || p.scalar_type() != at::kFloat || !p.is_contiguous() || !options_.fused)
    return false;
  flush();
  lazy_ = LazyRows();
  lazy_.index = i;
  lazy_.applied.assign(static_cast<size_t>(p.size(0)), 0);
  lazy_.zeros.assign(static_cast<size_t>(p.size(1)), 0.0f);
  return true;
}

void AdamW::catch_up_row(int64_t row) {
  const auto done = lazy_.applied[static_cast<size_t>(row)];
  const auto count = static_cast<int64_t>(lazy_.pending.size());
  if (done == count) return;
  const int64_t n = params_[lazy_.index].second.size(1);
  const int64_t offset = row * n;
  adamw_replay_row(params_[lazy_.index].second.data_ptr<float>() + offset, exp_avg_[lazy_.index].data_ptr<float>() + offset,
                   exp_avg_sq_[lazy_.index].data_ptr<float>() + offset, lazy_.zeros.data(), n,
                   lazy_.pending.data() + done, count - done);
  lazy_.applied[static_cast<size_t>(row)] = count;
}

void AdamW::catch_up(const at::Tensor& rows) {
  if (lazy_.index == kNone || lazy_.pending.empty()) return;
  const at::Tensor ids = rows.to(at::kCPU, at::kLong).contiguous();
  const int64_t* id = ids.data_ptr<int64_t>();
  const auto n_rows = static_cast<int64_t>(lazy_.applied.size());
  for (int64_t k = 0; k < ids.numel(); ++k) {
    if (id[k] >= 0 && id[k] < n_rows) catch_up_row(id[k]);
  }
}

void AdamW::flush() {
  if (lazy_.index == kNone || lazy_.pending.empty()) return;
  at::parallel_for(0, static_cast<int64_t>(lazy_.applied.size()), 256, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) catch_up_row(row);
  });
  lazy_.pending.clear();
  std::fill(lazy_.applied.begin(), lazy_.applied.end(), 0);
}

// One update of the lazy parameter from a sparse gradient: the rows it names are brought up to date
// and updated with their gradient; every other row gets this update later, with a zero gradient.
void AdamW::lazy_step(const at::Tensor& grad, const AdamWScalars& s) {
  const at::Tensor g = grad.is_coalesced() ? grad : grad.coalesce();
  const at::Tensor rows = g._indices()[0].contiguous();
  const at::Tensor values = g._values().contiguous();  // float32: set_lazy_rows took only a float32 matrix
  const int64_t n = params_[lazy_.index].second.size(1);
  LTH_CHECK(values.dim() == 2 && values.size(1) == n, ShapeError, "AdamW: sparse gradient of '{}' does not have whole rows",
            params_[lazy_.index].first);
  const int64_t* row = rows.data_ptr<int64_t>();
  const auto n_rows = static_cast<int64_t>(lazy_.applied.size());
  for (int64_t k = 0; k < rows.numel(); ++k) {  // all checked before any row changes
    LTH_CHECK(row[k] >= 0 && row[k] < n_rows, ShapeError, "AdamW: sparse gradient of '{}' names row {} of {}",
              params_[lazy_.index].first, row[k], n_rows);
  }
  float* p = params_[lazy_.index].second.data_ptr<float>();
  float* m = exp_avg_[lazy_.index].data_ptr<float>();
  float* v = exp_avg_sq_[lazy_.index].data_ptr<float>();
  const float* gv = values.data_ptr<float>();
  const auto after = static_cast<int64_t>(lazy_.pending.size()) + 1;  // this update, once pushed below
  for (int64_t k = 0; k < rows.numel(); ++k) {
    catch_up_row(row[k]);
    adamw_update(p + row[k] * n, gv + k * n, m + row[k] * n, v + row[k] * n, 0, n, s);
    lazy_.applied[static_cast<size_t>(row[k])] = after;
  }
  lazy_.pending.push_back(s);
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
  LTH_CHECK(lazy_.pending.empty(), Error, "AdamW: state() with lazy rows pending (flush() first)");
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
  lazy_.pending.clear();  // the loaded moments and the weights are up to date
  std::fill(lazy_.applied.begin(), lazy_.applied.end(), 0);
}

}  // namespace lth::train
