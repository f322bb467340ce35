#include "tests/report/fixture.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <torch/torch.h>

#include "core/file.h"
#include "io/safetensors.h"

namespace lth::report::testing {
using Json = nlohmann::json;

std::vector<std::string> bert_names(int layers) {
  std::vector<std::string> out;
  for (int i = 0; i < layers; ++i) {
    const std::string p = "bert.encoder.layer." + std::to_string(i) + ".";
    for (const char* s : {"attention.self.query.weight", "attention.self.key.weight", "attention.self.value.weight",
                          "attention.output.dense.weight", "intermediate.dense.weight", "output.dense.weight"}) {
      out.push_back(p + s);
    }
  }
  out.push_back("bert.pooler.dense.weight");
  return out;
}

namespace {

Json level_json(const RunSpec& spec, const LevelSpec& level, const std::string& dir, const std::string& strategy) {
  make_dirs(dir);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  Json per_tensor = Json::object();
  int64_t total = 0, pruned = 0;
  for (size_t i = 0; i < spec.names.size(); ++i) {
    const auto& keep = level.keep[i];
    at::Tensor t = torch::tensor(std::vector<int64_t>(keep.begin(), keep.end()), torch::kInt64).to(torch::kUInt8).reshape(spec.shapes[i]);
    tensors.emplace_back(spec.names[i], t);
    const int64_t n = static_cast<int64_t>(keep.size());
    const int64_t p = n - std::count(keep.begin(), keep.end(), uint8_t{1});
    per_tensor[spec.names[i]] = {{"total", n}, {"pruned", p}, {"sparsity", static_cast<double>(p) / static_cast<double>(n)}};
    total += n;
    pruned += p;
  }
  const double sparsity = static_cast<double>(pruned) / static_cast<double>(total);
  io::save_safetensors(dir + "/mask.safetensors", tensors,
                       {{"format", "lth-mask"}, {"format_version", "1"}, {"task", spec.task}, {"level", std::to_string(level.level)},
                        {"sparsity", std::to_string(sparsity)}, {"strategy", strategy}, {"config_hash", "fixture"}});
  write_file_atomic(dir + "/sparsity.json", Json{{"level", level.level}, {"sparsity", sparsity}, {"pruned", pruned}, {"total", total},
                                                 {"per_tensor", per_tensor}}.dump(1));
  Json metrics = {{spec.metric, level.metric}, {"loss", 0.25}};
  write_file_atomic(dir + "/result.json", Json{{"final", metrics}, {"best", metrics}, {"steps", 100}, {"seconds", 1.5},
                                               {"examples_per_second", 10.0}, {"resumed_from", nullptr}}.dump(1));
  return Json{{"level", level.level}, {"sparsity", sparsity}, {"metric", level.metric}};
}

}  // namespace

void write_run(const std::string& dir, const RunSpec& spec) {
  make_dirs(dir);
  const std::string hash = "h" + std::to_string(std::hash<std::string>{}(spec.task + std::to_string(spec.seed)) % 100000);
  Json config = {{"task", spec.task}, {"seed", spec.seed}, {"out", dir}, {"prune_rate", 0.25}, {"levels", spec.levels.size() - 1},
                 {"hash", hash}, {"hashed", {{"task", spec.task}, {"seed", spec.seed}}}};
  for (const auto& [k, v] : spec.extra_config.items()) config[k] = v;
  write_file_atomic(dir + "/config.json", config.dump(2));
  const double dense = spec.levels.front().metric;
  Json levels = Json::array();
  for (const LevelSpec& l : spec.levels) {
    Json j = level_json(spec, l, dir + "/level_" + std::to_string(l.level), "global");
    j["delta"] = l.metric - dense;
    levels.push_back(j);
  }
  Json baselines = Json::object();
  for (const auto& [name, list] : spec.baselines) {
    Json rows = Json::array();
    for (const LevelSpec& l : list) {
      Json j = level_json(spec, l, dir + "/baselines/" + name + "/level_" + std::to_string(l.level), name == "random" ? "random" : "global");
      j["delta"] = l.metric - dense;
      rows.push_back(j);
    }
    baselines[name] = rows;
  }
  Json summary = {{"schema", 1},          {"task", spec.task},  {"metric", spec.metric},  {"seed", spec.seed},
                  {"config_hash", hash},  {"dense", dense},     {"levels", levels},       {"baselines", baselines}};
  for (const auto& [k, v] : spec.extra_summary.items()) summary[k] = v;
  write_file_atomic(dir + "/summary.json", summary.dump(2));
}

std::vector<std::string> write_small_fixture(const std::string& root) {
  const std::vector<std::string> names = bert_names(2);
  const std::vector<std::vector<int64_t>> shapes(names.size(), {2, 2});
  auto keep = [&](std::vector<uint8_t> pattern) { return std::vector<std::vector<uint8_t>>(names.size(), pattern); };
  const auto all = keep({1, 1, 1, 1});
  std::vector<std::string> dirs;
  const double dense_a[] = {0.80, 0.82, 0.84}, l1_a[] = {0.81, 0.80, 0.82}, l2_a[] = {0.78, 0.80, 0.79};
  const double r1[] = {0.70, 0.72, 0.74}, r2[] = {0.60, 0.62, 0.58}, o1[] = {0.805, 0.815, 0.81}, o2[] = {0.75, 0.77, 0.76};
  for (int s = 0; s < 3; ++s) {
    RunSpec spec;
    spec.task = "glue/sst2";
    spec.seed = s + 1;
    spec.names = names;
    spec.shapes = shapes;
    const auto l2 = s == 1 ? keep({0, 1, 0, 1}) : keep({0, 0, 1, 1});
    spec.levels = {{0, dense_a[s], all}, {1, l1_a[s], keep({0, 1, 1, 1})}, {2, l2_a[s], l2}};
    spec.baselines["random"] = {{1, r1[s], keep({1, 0, 1, 1})}, {2, r2[s], keep({1, 0, 0, 1})}};
    spec.baselines["oneshot"] = {{1, o1[s], keep({0, 1, 1, 1})}, {2, o2[s], keep({0, 0, 1, 1})}};
    dirs.push_back(root + "/sst2-seed" + std::to_string(s + 1));
    write_run(dirs.back(), spec);
  }
  RunSpec b;
  b.task = "glue/mrpc";
  b.seed = 7;
  b.names = names;
  b.shapes = shapes;
  b.levels = {{0, 0.70, all}, {1, 0.71, keep({1, 1, 1, 0})}, {2, 0.65, keep({1, 1, 0, 0})}};
  dirs.push_back(root + "/mrpc-seed7");
  write_run(dirs.back(), b);
  return dirs;
}

std::vector<std::string> write_demo_fixture(const std::string& root) {
  const std::vector<std::string> names = bert_names(12);
  const std::vector<std::vector<int64_t>> shapes(names.size(), {8, 8});
  const int levels = 6;
  // Global magnitude pruning of synthetic |w| whose scale depends on the matrix kind and depth, so that
  // per-matrix sparsity varies as in real tickets (deep layers and FFN pruned more).
  auto masks_for = [&](uint64_t seed, double task_shift, bool random) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<double> mags;
    for (size_t t = 0; t < names.size(); ++t) {
      const int layer = static_cast<int>(t / 6), kind = static_cast<int>(t % 6);
      const bool pooler = t + 1 == names.size();
      static const double kKind[] = {0.9, 0.9, 1.15, 1.05, 0.8, 0.85};
      double scale = pooler ? 0.7 : kKind[kind] * (1.25 - 0.04 * layer + task_shift * (layer % 3 - 1));
      for (int e = 0; e < 64; ++e) mags.push_back(random ? u(rng) : scale * (0.3 + u(rng)));
    }
    std::vector<double> sorted = mags;
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::vector<std::vector<uint8_t>>> out;
    for (int k = 0; k < levels; ++k) {
      const double sparsity = 1.0 - std::pow(0.7, k);
      const size_t cut = static_cast<size_t>(std::floor(sparsity * static_cast<double>(mags.size())));
      const double threshold = cut == 0 ? -1.0 : sorted[cut - 1];
      std::vector<std::vector<uint8_t>> keep(names.size());
      for (size_t i = 0; i < mags.size(); ++i) keep[i / 64].push_back(mags[i] > threshold ? 1 : 0);
      out.push_back(keep);
    }
    return out;
  };
  std::vector<std::string> inputs;
  struct TaskDemo {
    const char* task;
    const char* slug;
    double dense;
    double shift;
    int seeds;
  };
  const TaskDemo tasks[] = {{"glue/sst2", "sst2", 0.921, 0.0, 3}, {"glue/mrpc", "mrpc", 0.852, 0.25, 2}};
  for (const TaskDemo& t : tasks) {
    for (int s = 0; s < t.seeds; ++s) {
      RunSpec spec;
      spec.task = t.task;
      spec.seed = 57 + s;
      spec.names = names;
      spec.shapes = shapes;
      const auto imp = masks_for(1000 + static_cast<uint64_t>(s) * 7 + static_cast<uint64_t>(t.shift * 100), t.shift, false);
      const auto rnd = masks_for(5000 + static_cast<uint64_t>(s), 0.0, true);
      const double jitter = 0.004 * (s - 1);
      for (int k = 0; k < levels; ++k) {
        const double sp = 1.0 - std::pow(0.7, k);
        spec.levels.push_back({k, t.dense - 0.04 * std::pow(sp, 4) + jitter, imp[static_cast<size_t>(k)]});
        if (k == 0) continue;
        spec.baselines["random"].push_back({k, t.dense - 0.25 * sp + 1.5 * jitter, rnd[static_cast<size_t>(k)]});
        spec.baselines["reinit"].push_back({k, t.dense - 0.18 * sp + jitter, imp[static_cast<size_t>(k)]});
        spec.baselines["oneshot"].push_back({k, t.dense - 0.09 * std::pow(sp, 2) + jitter, imp[static_cast<size_t>(k)]});
        spec.baselines["standard"].push_back({k, t.dense - 0.03 * std::pow(sp, 3) - 0.002 + jitter, imp[static_cast<size_t>(k)]});
      }
      inputs.push_back(root + "/" + t.slug + "-seed" + std::to_string(spec.seed));
      write_run(inputs.back(), spec);
    }
  }
  const std::string transfer = root + "/transfer-matrix.json";
  write_file_atomic(transfer, Json{{"schema", 1},
                                   {"sources", {"mlm", "glue/sst2", "glue/mrpc"}},
                                   {"targets", {"glue/sst2", "glue/mrpc", "glue/rte"}},
                                   {"scores", {{0.915, 0.848, 0.652}, {0.919, 0.801, 0.598}, {0.874, 0.851, nullptr}}},
                                   {"metric", "accuracy"}}.dump(2));
  inputs.push_back(transfer);
  return inputs;
}

}  // namespace lth::report::testing
