// Synthetic IMP run directories (docs/FORMATS.md layout) for the report tests.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lth::report::testing {

struct LevelSpec {
  int level = 0;
  double metric = 0.0;
  std::vector<std::vector<uint8_t>> keep;  // per tensor (RunSpec::names order), 1 = kept
};

struct RunSpec {
  std::string task = "glue/sst2";
  std::string metric = "accuracy";
  int64_t seed = 1;
  std::vector<std::string> names;             // HF parameter keys of the masks
  std::vector<std::vector<int64_t>> shapes;   // parallel to names
  std::vector<LevelSpec> levels;              // trunk, level 0 first
  std::map<std::string, std::vector<LevelSpec>> baselines;
  nlohmann::json extra_config = nlohmann::json::object();
  nlohmann::json extra_summary = nlohmann::json::object();  // merged into summary.json
};

// The prunable BERT matrices of `layers` layers (Q, K, V, AO, I, O per layer) and the pooler.
std::vector<std::string> bert_names(int layers);

// Writes config.json, summary.json and level_K/{mask.safetensors, sparsity.json, result.json}
// (and the same under baselines/<name>/) to `dir`.
void write_run(const std::string& dir, const RunSpec& spec);

// The hand-computable fixture of test_report: 2 layers + pooler, every tensor [2, 2].
// Group A (glue/sst2, seeds 1, 2, 3) and group B (glue/mrpc, seed 7), levels 0..2, baselines random + oneshot.
// Per tensor, kept elements: level 0 all; A level 1 {1,2,3}; A level 2 {2,3} (seeds 1, 3) or {1,3} (seed 2);
// B level 1 {0,1,2}; B level 2 {0,1}.
// Returns the run directories: A1, A2, A3, B7.
std::vector<std::string> write_small_fixture(const std::string& root);

// A BERT-base-shaped (12 layers, 8x8 matrices) demo: sst2 with 3 seeds, mrpc with 2 seeds, 6 levels,
// four baselines, and transfer-matrix.json. Returns the report's inputs.
std::vector<std::string> write_demo_fixture(const std::string& root);

}  // namespace lth::report::testing
