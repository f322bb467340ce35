// lth mux train / eval / bench as library calls: DataMUX (lib/mux) on a dense or pruned BERT, with
// the tasks' readers, featurisers and metrics. GLUE splits are predicted in file order, N
// consecutive examples per forward pass (mux::predict_mux); any other task's own evaluation runs
// with every forward pass multiplexed (the forward of the train::EvalContext it is given).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mux/bench.h"
#include "mux/bench_report.h"
#include "tasks/task.h"
#include "train/trainer.h"

namespace lth::tasks {

// The multiplexing settings of a run (saved as config.json's "mux").
struct MuxSettings {
  int64_t n = 2;
  std::string mux = "hadamard";
  std::string demux = "mlp";  // measured best on small encoders (docs/BENCHMARKS.md, "Multiplexing")
  std::string index_tokens = "[unused{}]";
  double hadamard_norm = 0.0;
  std::string pooling = "mean";  // how a sequence-level head reads an instance (mux::MuxConfig::pooling)
  std::string mask;  // ticket mask file (HF parameter names); empty: dense
  int64_t warmup_steps = 0;
  double warmup_lr = 1e-4;
  int64_t warmup_batch_size = 0;
  std::string warmup_eval_every;  // "" = ten times over the warm-up
  double task_weight = 0.9;
  double retrieval_weight = 0.1;
  double retrieval_fraction = 1.0;
};

struct MuxTrainRun {
  std::string model, task, out;
  train::TrainConfig train;
  TaskOptions task_options;  // its data, and its texts: raw text for the retrieval warm-up
  MuxSettings mux;
  bool force = false;         // replace a run with other settings in `out`
  nlohmann::json resolved;    // the config, "mux" section included (cli/mux.cpp's table); config.json adds "max_length"
};

// Warm-up and/or fine-tuning into the run directory `out`; returns the line `lth mux train` prints
// (final metrics, else the warm-up's, with "n" and "warmup_retrieval_accuracy").
nlohmann::json run_mux_train(const MuxTrainRun& run);

struct MuxEvalRun {
  std::string model;  // a mux train run directory or a model directory with mux_config.json
  std::string task, data, split, dev_file;  // empty: the run's
  std::vector<std::string> texts;
  int64_t max_length = 0;  // 0: the run's
  int64_t batch_size = 128;
  std::string precision = "fp32";  // resolved (fp32 or bf16)
  std::string device = "cpu";
};

// One JSON object: the task's metrics (or retrieval on raw text) with "n" and "retrieval_accuracy".
nlohmann::json run_mux_eval(MuxEvalRun run);

struct MuxBenchRun {
  std::string model = "bert-base";  // checkpoint directory, or bert-base / bert-tiny (random weights)
  std::vector<int64_t> ns = {1, 2, 5, 10, 20};
  std::vector<std::string> runs;  // trained mux run directories: their accuracy beside the throughput
  mux::BenchConfig bench;
  MuxSettings mux;
};

mux::BenchReport run_mux_bench(const MuxBenchRun& run);

}  // namespace lth::tasks
