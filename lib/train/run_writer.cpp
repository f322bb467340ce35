#include "train/run_writer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/file.h"
#include "train/trainee.h"

namespace lth::train {
namespace fs = std::filesystem;
namespace {

// Keeps only metrics.jsonl lines up to `steps` (a resumed run rewrites what came after its checkpoint).
void truncate_metrics(const std::string& path, int64_t steps) {
  if (!path_exists(path)) return;
  std::istringstream in(read_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (nlohmann::json::parse(line).value("step", int64_t{0}) > steps) continue;
    } catch (const nlohmann::json::exception&) {
      continue;  // a torn last line from a kill
    }
    kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

double metric_value(const nlohmann::json& metrics, const std::string& name) {
  auto it = metrics.find(name);
  return (it != metrics.end() && it->is_number()) ? it->get<double>() : -1e300;
}

}  // namespace

bool Best::offer(const nlohmann::json& m, const std::string& main_metric) {
  const double v = metric_value(m, main_metric);
  if (v > value) {  // never true for NaN
    value = v;
    metrics = m;
    return true;
  }
  return false;
}

void RunWriter::create() const {
  if (writes_) make_dirs(dir_);
}

void RunWriter::start_metrics(bool resumed, int64_t steps) const {
  if (!writes_) return;
  if (resumed) {
    truncate_metrics(metrics_path(), steps);
  } else if (path_exists(metrics_path())) {
    fs::remove(metrics_path());
  }
}

void RunWriter::append_metrics(const nlohmann::json& line) const {
  if (!writes_) return;
  std::ofstream out(metrics_path(), std::ios::app);
  out << line.dump() << "\n";
  out.flush();
}

bool RunWriter::record_eval(nlohmann::json& metrics, int64_t steps, double epoch, const std::string& main_metric,
                            Best& best) const {
  metrics["step"] = steps;
  metrics["epoch"] = epoch;
  metrics["split"] = "dev";
  append_metrics(metrics);
  return best.offer(metrics, main_metric);
}

void RunWriter::save_model(Trainee& trainee, const std::string& name, const std::string& tokenizer_dir) const {
  if (writes_) trainee.save_model(dir_ + "/" + name, tokenizer_dir);
}

std::optional<nlohmann::json> RunWriter::read_result() const {
  if (!path_exists(result_path())) return std::nullopt;
  return read_json_file(result_path());
}

void RunWriter::write_result(const nlohmann::json& result) const {
  if (writes_) write_file_atomic(result_path(), result.dump(2) + "\n");
}

void RunWriter::remove_checkpoint() const {
  if (!writes_) return;
  std::error_code ec;
  fs::remove_all(checkpoint_dir(), ec);
}

}  // namespace lth::train
