// Run directories and their identity. A run directory (lth finetune / pretrain / transfer /
// mux train --out) holds run.json: {"schema": 1, "command": "finetune", "identity": {...}}, the
// settings that change what the run computes. A later command may reuse the directory only when it
// is the same command with the same identity (then it resumes or skips, as before); otherwise it
// fails with one line naming the keys that differ, unless --force replaces the old run. Commands
// that write model directories (export, mask apply) refuse a run directory as --out.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lth {

inline constexpr const char* kRunFile = "run.json";

// Keys of a resolved run config that never change its results (paths of outputs, threads, device,
// evaluation / checkpoint intervals, whether models are saved).
const std::set<std::string>& non_identity_keys();

// `resolved` without the non-identity keys (nested objects kept as they are).
nlohmann::json identity_of(const nlohmann::json& resolved);

// "task (glue/sst2 vs glue/rte)" for every key whose value differs (absent keys included), in key
// order; `saved` first. Empty when equal.
std::vector<std::string> identity_differences(const nlohmann::json& saved, const nlohmann::json& now);

// Whether `dir` holds an lth run: run.json, or a run's config.json (one with an "out" key, which a
// model's config.json never has). Returns the command that made it ("" when unknown) in `command`.
bool is_run_dir(const std::string& dir, std::string* command = nullptr);

// A run directory being claimed by one command. The constructor only checks (nothing is written):
// `dir` must be absent, empty, or a run of `command` whose identity equals `identity`; with `force`
// an existing lth run there is removed first (a non-empty directory that is no run is refused even
// then: lth never deletes files it did not write). begin() creates the directory and writes
// run.json. When the command fails before its run produced anything worth resuming (no checkpoint,
// result or mask), the destructor removes a directory this command created.
class RunDir {
 public:
  RunDir(std::string dir, std::string command, nlohmann::json identity, bool force);
  ~RunDir();
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;

  // Creates the directory (if needed) and writes run.json. Idempotent.
  void begin();
  const std::string& dir() const { return dir_; }
  bool existed() const { return existed_; }

 private:
  std::string dir_, command_;
  nlohmann::json identity_;
  bool existed_ = false;  // the directory was there before this command
  bool created_ = false;  // begin() made it
  int uncaught_ = 0;
};

// For commands whose --out is a model directory (export, mask apply): throws UsageError when `dir`
// holds an lth run, or is a non-empty directory that holds no model (no config.json).
void check_model_out_dir(const std::string& dir, const std::string& command);

}  // namespace lth
