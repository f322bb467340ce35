#include "lottery/distributed.h"

#include <torch/torch.h>

#include "core/log.h"

namespace lth::lottery {
namespace {

std::string level_message(const prune::LevelSpec& spec) {
  nlohmann::json names = nlohmann::json::array();
  for (const auto& [name, t] : spec.mask->tensors) names.push_back(name);
  return nlohmann::json{{"op", "train"}, {"dir", spec.dir}, {"init", static_cast<int>(spec.init)},
                        {"continue_dir", spec.continue_dir}, {"capture", spec.capture_rewind_to}, {"mask", names}}
      .dump();
}

prune::LevelSpec spec_of(const nlohmann::json& message) {
  prune::LevelSpec spec;
  spec.dir = message.at("dir").get<std::string>();
  spec.init = static_cast<prune::LevelInit>(message.at("init").get<int>());
  spec.continue_dir = message.at("continue_dir").get<std::string>();
  spec.capture_rewind_to = message.at("capture").get<std::string>();
  return spec;
}

void broadcast_mask(train::Dist& dist, prune::Mask& mask, const nlohmann::json& names, const prune::NamedTensors& theta0) {
  for (const auto& j : names) {
    const std::string name = j.get<std::string>();
    at::Tensor t = dist.is_main() ? mask.tensors.at(name).to(torch::kUInt8).contiguous()
                                  : torch::empty(theta0.at(name).sizes(), torch::kUInt8);
    dist.broadcast(t, 0);
    if (!dist.is_main()) mask.tensors[name] = t.to(torch::kBool);
  }
}

// Rank 0: the driver, announcing each level before training it.
nlohmann::json lead(train::Dist& dist, const prune::ImpConfig& imp, const prune::NamedTensors& theta0,
                    const std::vector<std::string>& prunable, const prune::TrainLevelFn& train_level) {
  nlohmann::json summary;
  try {
    summary = prune::run_imp(imp, theta0, prunable, [&](const prune::LevelSpec& spec) {
      const nlohmann::json message = nlohmann::json::parse(broadcast_string(dist, level_message(spec)));
      prune::Mask mask = *spec.mask;
      broadcast_mask(dist, mask, message.at("mask"), theta0);
      return train_level(spec);
    });
  } catch (...) {
    log::warn("prune", "rank 0 failed: the other ranks stop when their launcher stops them");
    throw;
  }
  broadcast_string(dist, nlohmann::json{{"op", "done"}, {"summary", summary}}.dump());
  return summary;
}

// The other ranks: train each level rank 0 announces, until "done".
nlohmann::json follow(train::Dist& dist, const prune::NamedTensors& theta0, const prune::TrainLevelFn& train_level) {
  for (;;) {
    const auto message = nlohmann::json::parse(broadcast_string(dist, std::string()));
    if (message.at("op") == "done") return message.at("summary");
    prune::Mask mask;
    broadcast_mask(dist, mask, message.at("mask"), theta0);
    prune::LevelSpec spec = spec_of(message);
    spec.mask = &mask;
    train_level(spec);
  }
}

}  // namespace

nlohmann::json run_imp_distributed(train::Dist& dist, const prune::ImpConfig& imp, const prune::NamedTensors& theta0,
                                   const std::vector<std::string>& prunable, const prune::TrainLevelFn& train_level) {
  if (dist.is_main()) return lead(dist, imp, theta0, prunable, train_level);
  return follow(dist, theta0, train_level);
}

}  // namespace lth::lottery
