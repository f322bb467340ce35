#include "train/checkpoint.h"

#include <map>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/run_identity.h"
#include "io/safetensors.h"
#include "train/adamw.h"
#include "train/dist.h"
#include "train/trainer.h"

namespace lth::train {
namespace {

std::string checkpoint_file(const std::string& run_dir) { return run_dir + "/checkpoint/state.safetensors"; }

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> named_parameters(model::Bert& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& item : model->named_parameters()) out.emplace_back(item.key(), item.value());
  return out;
}

nlohmann::json train_identity(const TrainConfig& c, int64_t world) {
  return {{"length", c.length}, {"lr", c.lr}, {"batch_size", c.batch_size}, {"warmup", c.warmup},
          {"weight_decay", c.weight_decay}, {"max_grad_norm", c.max_grad_norm}, {"grad_accum", c.grad_accum},
          {"seed", c.seed}, {"precision", c.precision}, {"group_by_length", c.group_by_length}, {"pad_to", c.pad_to},
          {"world_size", world}};
}

void check_identity(const nlohmann::json& saved, const nlohmann::json& now, const std::string& path, const char* what) {
  if (saved.is_null()) return;  // written before identities were saved
  const auto diffs = identity_differences(saved, now);
  if (diffs.empty()) return;
  std::string list;
  for (size_t i = 0; i < diffs.size() && i < 4; ++i) list += (i ? ", " : "") + diffs[i];
  if (diffs.size() > 4) list += fmt::format(", and {} more", diffs.size() - 4);
  LTH_FAIL(Error, "{}: {} differs in {}; rerun with the same settings, or use another --out (or --force)", path, what, list);
}

void save_checkpoint(const std::string& run_dir, const NamedTensorList& state, const AdamW* optimizer,
                     const Checkpoint& c, const nlohmann::json& identity, const std::vector<at::Tensor>& rank_rngs) {
  make_dirs(run_dir + "/checkpoint");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, p] : state) tensors.emplace_back("param." + name, p.detach().to(torch::kCPU));
  if (optimizer) {
    for (auto& [name, t] : optimizer->state()) tensors.emplace_back("optim." + name, t.to(torch::kCPU));
  }
  tensors.emplace_back("rng.cpu", at::detail::getDefaultCPUGenerator().get_state());
  for (size_t r = 1; r < rank_rngs.size(); ++r) tensors.emplace_back("rng.cpu.rank" + std::to_string(r), rank_rngs[r]);
  nlohmann::json meta = {{"steps", c.steps}, {"best", c.best.value}, {"best_metrics", c.best.metrics}, {"identity", identity}};
  io::save_safetensors(checkpoint_file(run_dir), tensors, {{"lth_trainer", meta.dump()}});
}

namespace {

// The checkpoint's "param." tensors copied into `state` (every name must be there, with its shape).
void load_state_tensors(const io::SafetensorsFile& file, const std::string& path, const NamedTensorList& state) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, p] : state) {
    LTH_CHECK(file.contains("param." + name), IoError, "{}: no tensor for parameter '{}' (another model?)", path, name);
    auto t = file.load("param." + name);
    LTH_CHECK(t.sizes() == p.sizes(), ShapeError, "{}: '{}' has another shape than the model's", path, name);
    at::Tensor target = p;
    target.copy_(t);
  }
}

void broadcast_state(Dist& dist, const NamedTensorList& state) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, p] : state) {
    at::Tensor data = p.detach();
    if (data.is_contiguous()) {
      dist.broadcast(data, 0);
    } else {  // collectives take contiguous tensors (a mux part's transposed view)
      at::Tensor copy = data.contiguous();
      dist.broadcast(copy, 0);
      data.copy_(copy);
    }
  }
}

// Each rank's generator state from rank 0's checkpoint file (rank 0 keeps its own, already loaded).
// Row r = [saved?, state of rank r].
void broadcast_rank_rngs(Dist& dist, const std::string& path) {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  const at::Tensor own = generator.get_state();
  at::Tensor rngs = torch::zeros({dist.world_size(), own.numel() + 1}, torch::kUInt8);
  if (dist.is_main()) {
    io::SafetensorsFile file(path);
    for (int r = 1; r < dist.world_size(); ++r) {
      const std::string key = "rng.cpu.rank" + std::to_string(r);
      if (!file.contains(key)) continue;
      rngs[r][0] = 1;
      rngs[r].slice(0, 1).copy_(file.load(key).reshape({-1}));
    }
  }
  dist.broadcast(rngs, 0);
  if (!dist.is_main() && rngs[dist.rank()][0].item<int64_t>() != 0) {
    generator.set_state(rngs[dist.rank()].slice(0, 1).clone());
  }
}

}  // namespace

bool load_checkpoint(const std::string& run_dir, const NamedTensorList& state, AdamW& optimizer, Checkpoint& c,
                     const nlohmann::json& identity) {
  const std::string path = checkpoint_file(run_dir);
  if (!path_exists(path)) return false;
  io::SafetensorsFile file(path);
  auto meta_it = file.metadata().find("lth_trainer");
  LTH_CHECK(meta_it != file.metadata().end(), IoError, "{}: not an lth training checkpoint", path);
  const auto meta = nlohmann::json::parse(meta_it->second);
  check_identity(meta.value("identity", nlohmann::json()), identity, path, "the interrupted run saved here");
  c.steps = meta.at("steps").get<int64_t>();
  c.best.value = meta.at("best").get<double>();
  c.best.metrics = meta.at("best_metrics");
  load_state_tensors(file, path, state);
  std::vector<std::pair<std::string, at::Tensor>> moments;
  for (const auto& e : file.entries()) {
    if (e.name.rfind("optim.", 0) == 0) moments.emplace_back(e.name.substr(6), file.load(e.name));
  }
  optimizer.load_state(moments, c.steps);
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(file.load("rng.cpu"));
  return true;
}

bool sync_start(Dist& dist, const NamedTensorList& state, AdamW& optimizer, Checkpoint& c, bool resumed,
                const std::string& run_dir) {
  torch::NoGradGuard no_grad;
  nlohmann::json meta;
  if (dist.is_main()) {
    meta = {{"resumed", resumed}, {"steps", c.steps}, {"best", c.best.value}, {"best_metrics", c.best.metrics},
            {"optim", nlohmann::json::array()}};
    for (const auto& [name, t] : optimizer.state()) meta["optim"].push_back(name);
  }
  meta = nlohmann::json::parse(broadcast_string(dist, dist.is_main() ? meta.dump() : std::string()));
  resumed = meta.at("resumed").get<bool>();
  c.steps = meta.at("steps").get<int64_t>();
  c.best.value = meta.at("best").get<double>();
  c.best.metrics = meta.at("best_metrics");
  broadcast_state(dist, state);
  if (!resumed) return false;
  const auto& trained = optimizer.parameters();
  const std::map<std::string, at::Tensor> params(trained.begin(), trained.end());
  const auto own_state = optimizer.state();
  std::map<std::string, at::Tensor> mine(own_state.begin(), own_state.end());
  std::vector<std::pair<std::string, at::Tensor>> moments;
  for (const auto& j : meta.at("optim")) {
    const std::string name = j.get<std::string>();
    at::Tensor t;
    if (dist.is_main()) {
      t = mine.at(name).contiguous();
    } else {
      const std::string param = name.substr(name.find('.') + 1);
      auto p = params.find(param);
      LTH_CHECK(p != params.end(), ShapeError, "rank 0's optimizer state names '{}', which this model does not have", param);
      t = torch::zeros_like(p->second);
    }
    dist.broadcast(t, 0);
    moments.emplace_back(name, t);
  }
  if (!dist.is_main()) optimizer.load_state(moments, c.steps);
  broadcast_rank_rngs(dist, checkpoint_file(run_dir));
  return true;
}

void load_final_state(const std::string& run_dir, const NamedTensorList& state, Dist* dist) {
  const std::string path = checkpoint_file(run_dir);
  if (dist == nullptr || dist->is_main()) {
    LTH_CHECK(path_exists(path), IoError,
              "{}: missing; the finished run in {} kept no final state to continue from (delete it to run it again)",
              path, run_dir);
    io::SafetensorsFile file(path);
    load_state_tensors(file, path, state);
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    generator.set_state(file.load("rng.cpu"));
  }
  if (dist == nullptr) return;
  broadcast_state(*dist, state);
  broadcast_rank_rngs(*dist, path);
}

}  // namespace lth::train
