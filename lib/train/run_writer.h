// The files a training run leaves in its directory: metrics.jsonl (train lines and dev evaluations),
// the best and last models, the resume checkpoint's folder and result.json (written last: its
// presence means done). With data parallelism one process writes (rank 0); on the others `writes`
// is false and every call that would write does nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace lth::train {

class Trainee;  // train/trainee.h

// The best evaluation so far on one metric: higher is better; a missing or non-numeric value never wins.
struct Best {
  double value = -1e300;
  nlohmann::json metrics = nlohmann::json::object();

  // Keeps `metrics` when its `main_metric` beats the best so far; returns whether it did.
  bool offer(const nlohmann::json& metrics, const std::string& main_metric);
};

class RunWriter {
 public:
  RunWriter(std::string dir, bool writes) : dir_(std::move(dir)), writes_(writes) {}

  const std::string& dir() const { return dir_; }
  bool writes() const { return writes_; }
  std::string metrics_path() const { return dir_ + "/metrics.jsonl"; }
  std::string result_path() const { return dir_ + "/result.json"; }
  std::string checkpoint_dir() const { return dir_ + "/checkpoint"; }

  void create() const;
  // metrics.jsonl as training starts: a resumed run keeps the lines up to its checkpoint's `steps`
  // (it writes again what came after), a fresh run starts without one.
  void start_metrics(bool resumed, int64_t steps) const;
  void append_metrics(const nlohmann::json& line) const;
  // One dev evaluation after `steps` optimizer steps: stamps "step", "epoch" and "split": "dev" into
  // `metrics`, appends them to metrics.jsonl, and returns whether they are the best so far (`best`
  // then holds them).
  bool record_eval(nlohmann::json& metrics, int64_t steps, double epoch, const std::string& main_metric,
                   Best& best) const;
  // The trainee's model in the folder `name` ("best", "model"), with the tokenizer of `tokenizer_dir`
  // (HF format for a BERT; lth mux adds its mux files).
  void save_model(Trainee& trainee, const std::string& name, const std::string& tokenizer_dir) const;

  // result.json when the run is done (read by every process), else nothing.
  std::optional<nlohmann::json> read_result() const;
  void write_result(const nlohmann::json& result) const;
  void remove_checkpoint() const;

 private:
  std::string dir_;
  bool writes_;
};

}  // namespace lth::train
