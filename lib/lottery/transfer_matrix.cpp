#include "lottery/transfer_matrix.h"

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/run_identity.h"
#include "prune/mask.h"
#include "report/transfer_matrix.h"
#include "lottery/lottery.h"

namespace lth::lottery {
namespace fs = std::filesystem;

std::string transfer_source_name(const std::string& mask_path) {
  const auto mask = prune::load_mask(mask_path);
  auto task = mask.metadata.find("task");
  auto level = mask.metadata.find("level");
  if (task != mask.metadata.end() && level != mask.metadata.end()) {
    return fmt::format("{}@{:.0f}%", task->second, 100.0 * mask.sparsity());
  }
  return fs::path(mask_path).stem().string();
}

nlohmann::json transfer_identity(const nlohmann::json& resolved, const std::string& target, const std::string& mask) {
  nlohmann::json id = identity_of(resolved);
  id["task"] = target;
  id["mask_sha256"] = sha256_hex(read_file(mask));
  return id;
}

report::TransferMatrix run_transfer_matrix(const TransferMatrixConfig& cfg) {
  std::string other;
  LTH_CHECK(!is_run_dir(cfg.out, &other), UsageError,
            "{}/: --out holds an lth {}run; lth transfer --matrix's --out is a directory of runs", cfg.out,
            other.empty() ? "" : other + " ");
  report::TransferMatrix matrix;
  matrix.targets = cfg.targets;
  for (const auto& mask : cfg.masks) {
    matrix.sources.push_back(transfer_source_name(mask));
    // The mask's content decides the directory: two masks from different runs at the same level
    // (both level_5/) must not share (and silently reuse) one result.
    const std::string mask_slug = fs::path(mask).parent_path().filename().string() + "-" +
                                  sha256_hex(read_file(mask)).substr(0, 10);
    std::vector<std::optional<double>> row;
    for (const auto& target : cfg.targets) {
      std::string slug = mask_slug + "__" + target;
      for (char& c : slug)
        if (c == '/') c = '-';
      TransferConfig tc{mask, cfg.model, target, cfg.out + "/" + slug, cfg.train, cfg.task_options};
      RunDir run(tc.out, "transfer", transfer_identity(cfg.resolved, target, mask), cfg.force);
      run.begin();
      auto m = run_transfer(tc);
      matrix.metric = m.value("main_metric", "");
      row.push_back(m.contains(matrix.metric) && m[matrix.metric].is_number()
                        ? std::optional<double>(m[matrix.metric].get<double>())
                        : std::nullopt);  // no score, never a fake 0
    }
    matrix.scores.push_back(row);
  }
  matrix.path = cfg.out + "/transfer-matrix.json";
  report::write_transfer_matrix(matrix, cfg.out);
  return matrix;
}

}  // namespace lth::lottery
