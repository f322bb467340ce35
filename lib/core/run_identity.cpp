#include "core/run_identity.h"

#include <exception>
#include <filesystem>
#include <fmt/format.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"

namespace lth {
namespace fs = std::filesystem;
namespace {

// A value as it appears in a difference, kept short.
std::string short_value(const nlohmann::json* v) {
  if (v == nullptr) return "absent";
  std::string s = v->is_string() ? v->get<std::string>() : v->dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

// "r/" for messages, whether the user wrote r or r/.
std::string shown(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d + "/";
}

bool dir_is_empty(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::directory_iterator(dir, ec) == fs::directory_iterator();
}

// Files whose presence means the run has something to resume or keep.
bool holds_results(const fs::path& dir) {
  static const std::set<std::string> kKeep = {"result.json", "state.safetensors", "mask.safetensors",
                                              "rewind.safetensors", "model.safetensors"};
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (kKeep.count(it->path().filename().string())) return true;
  }
  return false;
}

nlohmann::json read_run_file(const fs::path& dir) {
  const std::string path = (dir / kRunFile).string();
  auto j = read_json_file(path);
  LTH_CHECK(j.is_object() && j.contains("identity") && j["identity"].is_object(), IoError,
            "{}: not an lth run record (no identity object)", path);
  return j;
}

}  // namespace

const std::set<std::string>& non_identity_keys() {
  // sparse_training: like threads, it changes rounding, not what is computed (ops/sparse_train.h).
  static const std::set<std::string> kKeys = {"out",         "threads", "device", "save_every",     "eval_every",
                                              "save_models", "hash",    "hashed", "sparse_training"};
  return kKeys;
}

nlohmann::json identity_of(const nlohmann::json& resolved) {
  nlohmann::json out = nlohmann::json::object();
  for (auto it = resolved.begin(); it != resolved.end(); ++it) {
    if (!non_identity_keys().count(it.key())) out[it.key()] = it.value();
  }
  return out;
}

std::vector<std::string> identity_differences(const nlohmann::json& saved, const nlohmann::json& now) {
  std::set<std::string> keys;
  for (auto it = saved.begin(); it != saved.end(); ++it) keys.insert(it.key());
  for (auto it = now.begin(); it != now.end(); ++it) keys.insert(it.key());
  std::vector<std::string> out;
  for (const auto& k : keys) {
    const nlohmann::json* a = saved.contains(k) ? &saved.at(k) : nullptr;
    const nlohmann::json* b = now.contains(k) ? &now.at(k) : nullptr;
    if (a && b && *a == *b) continue;
    if (a && b && a->is_object() && b->is_object()) {  // nested settings (mux): name the inner keys
      for (const auto& inner : identity_differences(*a, *b)) out.push_back(k + "." + inner);
      continue;
    }
    out.push_back(fmt::format("{} ({} vs {})", k, short_value(a), short_value(b)));
  }
  return out;
}

bool is_run_dir(const std::string& dir, std::string* command) {
  const fs::path d(dir);
  std::error_code ec;
  if (fs::is_regular_file(d / kRunFile, ec)) {
    if (command) {
      try {
        *command = read_run_file(d).value("command", "");
      } catch (const Error&) {
        *command = "";
      }
    }
    return true;
  }
  if (fs::is_regular_file(d / "config.json", ec)) {
    try {
      const auto j = read_json_file((d / "config.json").string());
      if (j.is_object() && j.contains("out") && !j.contains("hidden_size")) {
        if (command) *command = "";
        return true;
      }
    } catch (const Error&) {
    }
  }
  return false;
}

RunDir::RunDir(std::string dir, std::string command, nlohmann::json identity, bool force)
    : dir_(std::move(dir)), command_(std::move(command)), identity_(std::move(identity)),
      uncaught_(std::uncaught_exceptions()) {
  std::error_code ec;
  const fs::path d(dir_);
  existed_ = fs::exists(d, ec);
  if (!existed_) return;
  LTH_CHECK(fs::is_directory(d, ec), UsageError, "{}: --out exists and is not a directory", dir_);
  if (dir_is_empty(d)) return;
  std::string other;
  if (!is_run_dir(dir_, &other)) {
    LTH_FAIL(UsageError, "{}: --out is not empty and holds no lth run; choose a new or empty directory", shown(dir_));
  }
  std::vector<std::string> diffs;
  if (!other.empty() && other != command_) {
    diffs.push_back(fmt::format("command (lth {} vs lth {})", other, command_));
  } else if (fs::is_regular_file(d / kRunFile, ec)) {
    diffs = identity_differences(read_run_file(d).at("identity"), identity_);
  } else {  // a run from before run.json: its config.json
    diffs = identity_differences(identity_of(read_json_file((d / "config.json").string())), identity_);
  }
  if (diffs.empty()) return;
  if (!force) {
    std::string list;
    for (size_t i = 0; i < diffs.size(); ++i) {
      if (i == 4 && diffs.size() > 5) {
        list += fmt::format(", and {} more", diffs.size() - 4);
        break;
      }
      list += (i ? ", " : "") + diffs[i];
    }
    LTH_FAIL(Error, "{}: existing run differs in {}; use another --out, or --force to replace it", shown(dir_), list);
  }
  log::warn("run", "{}: --force: replacing the existing run (it differs in {})", dir_, diffs.front());
  fs::remove_all(d, ec);
  LTH_CHECK(!ec, IoError, "{}: cannot remove the old run: {}", dir_, ec.message());
  existed_ = false;
}

void RunDir::begin() {
  if (!fs::exists(dir_)) created_ = true;
  make_dirs(dir_);
  nlohmann::json record = {{"schema", 1}, {"command", command_}, {"identity", identity_}};
  write_file_atomic(dir_ + "/" + kRunFile, record.dump(2) + "\n");
}

RunDir::~RunDir() {
  if (std::uncaught_exceptions() <= uncaught_) return;  // success: keep everything
  if (existed_ || !created_) return;
  std::error_code ec;
  if (!holds_results(dir_)) fs::remove_all(dir_, ec);
}

void check_model_out_dir(const std::string& dir, const std::string& command) {
  std::error_code ec;
  const fs::path d(dir);
  const fs::path parent = fs::absolute(d, ec).lexically_normal().parent_path();
  std::string owner;
  LTH_CHECK(parent.empty() || !is_run_dir(parent.string(), &owner), UsageError,
            "{}: --out is inside an lth {}run directory ({}); choose another --out", dir, owner.empty() ? "" : owner + " ",
            parent.string());
  if (!fs::exists(d, ec)) return;
  LTH_CHECK(fs::is_directory(d, ec), UsageError, "{}: --out exists and is not a directory", dir);
  std::string other;
  LTH_CHECK(!is_run_dir(dir, &other), UsageError, "{}: --out holds an lth {}run; lth {} writes a model directory: choose another --out",
            shown(dir), other.empty() ? "" : other + " ", command);
  LTH_CHECK(dir_is_empty(d) || fs::is_regular_file(d / "config.json", ec), UsageError,
            "{}: --out is not empty and holds no model; choose a new or empty directory", shown(dir));
}

}  // namespace lth
