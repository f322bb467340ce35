// lth mask info | overlap | apply: inspect, compare and bake masks.
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/run_identity.h"
#include "model/load.h"
#include "prune/mask.h"

namespace lth::cli {
namespace {

void mask_info(const std::string& path, bool as_json) {
  const auto mask = prune::load_mask(path);
  auto stats = mask.stats();
  stats["file"] = path;
  stats["metadata"] = mask.metadata;
  if (as_json) {
    fmt::print("{}\n", stats.dump(2));
    return;
  }
  fmt::print("{}\n", path);
  for (const auto& [k, v] : mask.metadata) fmt::print("  {:<18} {}\n", k, v);
  fmt::print("  {:<60} {:>10} {:>10} {:>9}\n", "tensor", "total", "pruned", "sparsity");
  for (auto it = stats["per_tensor"].begin(); it != stats["per_tensor"].end(); ++it) {
    fmt::print("  {:<60} {:>10} {:>10} {:>8.2f}%\n", it.key(), it.value()["total"].get<int64_t>(),
               it.value()["pruned"].get<int64_t>(), 100.0 * it.value()["sparsity"].get<double>());
  }
  fmt::print("  {:<60} {:>10} {:>10} {:>8.2f}%\n", "total", stats["total"].get<int64_t>(), stats["pruned"].get<int64_t>(),
             100.0 * stats["sparsity"].get<double>());
}

// IoU of the kept weights and Hamming distance, per tensor and overall.
nlohmann::json overlap(const prune::Mask& a, const prune::Mask& b, const std::string& a_name, const std::string& b_name) {
  nlohmann::json per = nlohmann::json::object();
  int64_t inter = 0, uni = 0, hamming = 0, total = 0;
  for (const auto& [name, ta] : a.tensors) {
    auto it = b.tensors.find(name);
    LTH_CHECK(it != b.tensors.end(), ShapeError, "{} has '{}' but {} does not", a_name, name, b_name);
    LTH_CHECK(it->second.sizes() == ta.sizes(), ShapeError, "'{}' differs in shape between {} and {}", name, a_name, b_name);
    const int64_t i = ta.logical_and(it->second).sum().item<int64_t>();
    const int64_t u = ta.logical_or(it->second).sum().item<int64_t>();
    const int64_t h = ta.logical_xor(it->second).sum().item<int64_t>();
    per[name] = {{"iou", u ? static_cast<double>(i) / static_cast<double>(u) : 1.0}, {"hamming", h}, {"total", ta.numel()}};
    inter += i;
    uni += u;
    hamming += h;
    total += ta.numel();
  }
  LTH_CHECK(a.tensors.size() == b.tensors.size(), ShapeError, "{} and {} mask different parameter sets", a_name, b_name);
  return {{"a", a_name}, {"b", b_name}, {"iou", uni ? static_cast<double>(inter) / static_cast<double>(uni) : 1.0},
          {"hamming", hamming}, {"hamming_fraction", total ? static_cast<double>(hamming) / static_cast<double>(total) : 0.0},
          {"per_tensor", per}};
}

void mask_overlap(const std::vector<std::string>& paths, bool as_json) {
  LTH_CHECK(paths.size() >= 2, UsageError, "mask overlap needs at least two mask files");
  std::vector<prune::Mask> masks;
  for (const auto& p : paths) masks.push_back(prune::load_mask(p));
  nlohmann::json pairs = nlohmann::json::array();
  for (size_t i = 0; i < masks.size(); ++i)
    for (size_t j = i + 1; j < masks.size(); ++j) pairs.push_back(overlap(masks[i], masks[j], paths[i], paths[j]));
  if (as_json) {
    fmt::print("{}\n", nlohmann::json{{"pairs", pairs}}.dump(2));
    return;
  }
  for (const auto& p : pairs) {
    fmt::print("{}  vs  {}\n  IoU {:.4f}  Hamming {} ({:.2f}%)\n", p["a"].get<std::string>(), p["b"].get<std::string>(),
               p["iou"].get<double>(), p["hamming"].get<int64_t>(), 100.0 * p["hamming_fraction"].get<double>());
    for (auto it = p["per_tensor"].begin(); it != p["per_tensor"].end(); ++it) {
      fmt::print("    {:<60} IoU {:.4f}  Hamming {}\n", it.key(), it.value()["iou"].get<double>(),
                 it.value()["hamming"].get<int64_t>());
    }
  }
}

void mask_apply(const std::string& mask_path, const std::string& model_dir, const std::string& out) {
  check_model_out_dir(out, "mask apply");
  const auto mask = prune::load_mask(mask_path);
  auto model = model::load_pretrained(model_dir);
  mask.check_fits(model, mask_path);
  mask.apply(model);
  model::save_pretrained(model, out, model_dir);
  fmt::print("{} (sparsity {:.2f}% of the masked weights)\n", out, 100.0 * mask.sparsity());
}

}  // namespace

void add_mask_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("mask", "Inspect, compare and apply mask files");
  cmd->require_subcommand(1);
  auto info_path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* info = cmd->add_subcommand("info", "Per-matrix and total sparsity of a mask");
  info->add_option("FILE", *info_path, "mask.safetensors")->required();
  info->add_flag("--json", *json, "JSON output");
  info->callback([info_path, json] { mask_info(*info_path, *json); });

  auto paths = std::make_shared<std::vector<std::string>>();
  auto json2 = std::make_shared<bool>(false);
  auto* ov = cmd->add_subcommand("overlap", "IoU (Jaccard) of kept weights and Hamming distance, per matrix and overall");
  ov->add_option("FILES", *paths, "Two or more mask files")->required();
  ov->add_flag("--json", *json2, "JSON output");
  ov->callback([paths, json2] { mask_overlap(*paths, *json2); });

  auto mask_file = std::make_shared<std::string>(), model_dir = std::make_shared<std::string>(),
       out = std::make_shared<std::string>();
  auto* ap = cmd->add_subcommand("apply", "Write a masked checkpoint (pruned weights exactly 0) in HF format");
  ap->add_option("--mask", *mask_file, "mask.safetensors")->required();
  ap->add_option("--model", *model_dir, "HF checkpoint directory")->required();
  ap->add_option("--out", *out, "Output directory")->required();
  ap->callback([mask_file, model_dir, out] { mask_apply(*mask_file, *model_dir, *out); });
}

}  // namespace lth::cli
