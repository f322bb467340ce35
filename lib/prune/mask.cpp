#include "prune/mask.h"

#include <fnmatch.h>

#include <algorithm>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"
#include "io/safetensors.h"
#include "model/bert.h"
#include "model/names.h"

namespace lth::prune {

int64_t Mask::total() const {
  int64_t n = 0;
  for (const auto& [name, t] : tensors) n += t.numel();
  return n;
}

int64_t Mask::kept() const {
  int64_t n = 0;
  for (const auto& [name, t] : tensors) n += t.sum().item<int64_t>();
  return n;
}

double Mask::sparsity() const {
  const int64_t t = total();
  return t == 0 ? 0.0 : static_cast<double>(t - kept()) / static_cast<double>(t);
}

nlohmann::json Mask::stats() const {
  nlohmann::json per = nlohmann::json::object();
  int64_t total_all = 0, pruned_all = 0;
  for (const auto& [name, t] : tensors) {
    const int64_t total_t = t.numel();
    const int64_t pruned_t = total_t - t.sum().item<int64_t>();
    per[name] = {{"total", total_t}, {"pruned", pruned_t},
                 {"sparsity", total_t ? static_cast<double>(pruned_t) / static_cast<double>(total_t) : 0.0}};
    total_all += total_t;
    pruned_all += pruned_t;
  }
  return {{"sparsity", total_all ? static_cast<double>(pruned_all) / static_cast<double>(total_all) : 0.0},
          {"pruned", pruned_all},
          {"total", total_all},
          {"per_tensor", per}};
}

bool is_default_prunable(const std::string& name) { return model::names::is_default_prunable(name); }

std::vector<std::string> prunable_names(const std::vector<std::string>& names, const std::vector<int64_t>& dims,
                                        const std::vector<std::string>& include, const std::vector<std::string>& exclude) {
  auto matches = [](const std::string& name, const std::vector<std::string>& globs) {
    return std::any_of(globs.begin(), globs.end(),
                       [&](const std::string& g) { return ::fnmatch(g.c_str(), name.c_str(), 0) == 0; });
  };
  std::vector<std::string> out;
  for (size_t i = 0; i < names.size(); ++i) {
    const bool in = include.empty() ? is_default_prunable(names[i]) : matches(names[i], include);
    if (!in || dims[i] != 2 || matches(names[i], exclude)) continue;
    out.push_back(names[i]);
  }
  std::sort(out.begin(), out.end());
  LTH_CHECK(!out.empty(), UsageError, "no parameter matches the prunable set (--prune/--exclude globs)");
  return out;
}

Mask full_mask(const NamedTensors& weights, const std::vector<std::string>& names) {
  Mask m;
  for (const auto& n : names) {
    auto it = weights.find(n);
    LTH_CHECK(it != weights.end(), ShapeError, "no parameter named '{}'", n);
    m.tensors[n] = torch::ones(it->second.sizes(), torch::kBool);
  }
  return m;
}

std::string fingerprint(const NamedTensors& weights, const std::vector<std::string>& names) {
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  Sha256 h;
  for (const auto& n : sorted) {
    auto it = weights.find(n);
    LTH_CHECK(it != weights.end(), ShapeError, "no parameter named '{}'", n);
    const auto t = it->second.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    h.update(n);
    for (int64_t d : t.sizes()) h.update(&d, sizeof(d));
    h.update(t.data_ptr<float>(), static_cast<size_t>(t.numel()) * sizeof(float));
  }
  return h.hex_digest().substr(0, 32);
}

void save_mask(const std::string& path, const Mask& mask) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, t] : mask.tensors) tensors.emplace_back(name, t.to(torch::kUInt8).contiguous());
  auto meta = mask.metadata;
  meta["format"] = "lth-mask";
  meta["format_version"] = "1";
  meta["sparsity"] = fmt::format("{:.6f}", mask.sparsity());
  io::save_safetensors(path, tensors, meta);
}

Mask load_mask(const std::string& path) {
  io::SafetensorsFile file(path);
  Mask m;
  m.metadata = file.metadata();
  LTH_CHECK(!file.entries().empty(), IoError, "{}: the mask holds no tensors", path);
  for (const auto& e : file.entries()) {
    LTH_CHECK(e.dtype == "U8" || e.dtype == "BOOL", IoError, "{}: mask tensor '{}' has dtype {}, expected U8 or BOOL",
              path, clip(e.name, 120), e.dtype);
    auto t = file.load(e.name);
    if (e.dtype == "U8") {
      LTH_CHECK(t.le(1).all().item<bool>(), IoError, "{}: mask tensor '{}' holds values other than 0 and 1", path,
                clip(e.name, 120));
    }
    m.tensors[e.name] = t.to(torch::kBool);
  }
  return m;
}

void Mask::check_fits(const NamedTensors& weights, const std::string& source, const std::string& model_fingerprint) const {
  std::vector<std::string> problems;
  for (const auto& [name, t] : tensors) {
    auto it = weights.find(name);
    if (it == weights.end()) {
      problems.push_back(fmt::format("'{}' is not a parameter of the model", clip(name, 100)));
    } else if (it->second.sizes() != t.sizes()) {
      problems.push_back(fmt::format("'{}' has shape {} in the mask but {} in the model", clip(name, 100),
                                     fmt::join(t.sizes(), "x"), fmt::join(it->second.sizes(), "x")));
    }
  }
  if (!problems.empty()) {
    // One bounded line: the first problems, then how many more.
    std::string shown;
    size_t listed = 0;
    for (; listed < problems.size() && (listed == 0 || shown.size() + problems[listed].size() < 220); ++listed)
      shown += (listed ? "; " : "") + problems[listed];
    if (listed < problems.size()) shown += fmt::format(" (and {} more; --verbose lists them)", problems.size() - listed);
    throw ShapeError(fmt::format("{}: the mask does not fit the model ({} problem(s)): {}", source, problems.size(), shown),
                     fmt::format("{}: every problem:\n  {}", source, fmt::join(problems, "\n  ")));
  }
  auto fp = metadata.find("base_fingerprint");
  if (!model_fingerprint.empty() && fp != metadata.end() && fp->second != model_fingerprint) {
    log::warn("prune", "{}: mask was found on a model with fingerprint {}, this model's is {}", source, clip(fp->second),
              model_fingerprint);
  }
}

void Mask::check_fits(model::Bert& model, const std::string& source) const {
  NamedTensors params;
  for (auto& item : model->named_parameters()) params[item.key()] = item.value();
  std::vector<std::string> names;
  for (const auto& [n, t] : tensors) {
    if (params.count(n)) names.push_back(n);  // names the model lacks: the check lists them
  }
  check_fits(params, source, fingerprint(params, names));
}

void apply_mask_tensors(model::Bert& model, const NamedTensors& masks) {
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters();
  for (const auto& [name, mask] : masks) {
    auto* p = params.find(name);
    LTH_CHECK(p != nullptr, ShapeError, "mask names '{}', which the model does not have", name);
    p->mul_(mask.to(p->device(), p->scalar_type()));
  }
}

void Mask::apply(model::Bert& model) const { apply_mask_tensors(model, tensors); }

}  // namespace lth::prune
