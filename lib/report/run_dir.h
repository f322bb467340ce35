// Reading IMP run directories (docs/FORMATS.md, "IMP run directory") for `lth report`. Damaged or
// partial directories are read as far as they go: every problem becomes one warning naming the file.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lth::report {

// Problems found while reading; each is logged to stderr ([report] warning: ...) when added.
class Problems {
 public:
  void add(const std::string& message);
  const std::vector<std::string>& list() const { return list_; }

 private:
  std::vector<std::string> list_;
};

struct TensorCount {
  int64_t total = 0;
  int64_t pruned = 0;
  double sparsity() const { return total > 0 ? static_cast<double>(pruned) / static_cast<double>(total) : 0.0; }
};

struct LevelData {
  int level = 0;
  std::optional<double> sparsity;
  std::optional<double> metric;
  std::string mask_path;                          // empty when missing or unreadable
  std::map<std::string, TensorCount> per_tensor;  // from sparsity.json, else counted from the mask
};

struct BranchData {
  std::map<int, LevelData> levels;
};

struct RunData {
  std::string path;
  std::string group_key;    // canonical config.json without seed/out/hash/hashed; unique when absent
  std::string task;         // "" when unknown
  std::string metric;       // the main metric's name, "" when unknown
  std::string config_hash;  // "" when unknown
  std::optional<int64_t> seed;
  std::optional<double> dense;
  BranchData trunk;
  std::map<std::string, BranchData> baselines;  // random, reinit, oneshot, standard, ...
  std::vector<std::string> new_parameters;      // summary.json "new_parameters": prunable-set matrices θ0 lacks
  bool prune_new_params = false;                // summary.json "prune_new_params": they were pruned all the same
};

// Reads one run directory. Returns nullopt (after adding a problem) when nothing in it is readable.
std::optional<RunData> load_run(const std::string& dir, Problems& problems);

// True when `dir` looks like one IMP run directory (config.json, summary.json or a level_K folder).
bool is_run_dir(const std::string& dir);

// Kept/pruned counts per tensor of a mask file (nonzero byte = kept). Throws IoError.
std::map<std::string, TensorCount> mask_counts(const std::string& mask_path);

// Jaccard index |A ∩ B| / |A ∪ B| of the kept weights of two masks over the same tensors.
// nullopt (after adding a problem) when a file is unreadable or the tensors do not match.
std::optional<double> mask_iou(const std::string& a, const std::string& b, Problems& problems);

}  // namespace lth::report
