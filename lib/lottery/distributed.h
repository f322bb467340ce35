// Data-parallel IMP: rank 0 runs prune::run_imp (it alone reads and writes the run directory, so it
// alone decides what is done); before each level it trains, it sends the level (directory, how to
// initialise, the mask it computed) to the other ranks, which train alongside it, then "done" with
// the summary. Every rank calls this with the same arguments and gets the same summary.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "prune/imp.h"
#include "train/dist.h"

namespace lth::lottery {

nlohmann::json run_imp_distributed(train::Dist& dist, const prune::ImpConfig& imp, const prune::NamedTensors& theta0,
                                   const std::vector<std::string>& prunable, const prune::TrainLevelFn& train_level);

}  // namespace lth::lottery
