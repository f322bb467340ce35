// The resume checkpoint of a training run (checkpoint/state.safetensors in its directory): weights,
// AdamW moments, CPU generator states, the step and the best evaluation so far, and the identity of
// the settings that wrote it, so that a killed run resumes exactly and a run resumed (or skipped)
// with other settings is refused instead of silently mixing both.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "model/bert.h"
#include "train/run_writer.h"
#include "train/trainee.h"

namespace lth::train {

class AdamW;  // train/adamw.h
class Dist;   // train/dist.h
struct TrainConfig;

struct Checkpoint {
  int64_t steps = 0;
  Best best;
};

// The model's parameters by name, in registration order.
std::vector<std::pair<std::string, at::Tensor>> named_parameters(model::Bert& model);

// The settings that change what training computes (saved in the checkpoint and result.json).
nlohmann::json train_identity(const TrainConfig& config, int64_t world);
// Throws naming `path` and up to four differing settings when `saved` (null: written before
// identities were saved, accepted) differs from `now`; `what` says what was saved there.
void check_identity(const nlohmann::json& saved, const nlohmann::json& now, const std::string& path, const char* what);

// `state`: the tensors to save or fill by name (Trainee::state()). `rank_rngs`: with data
// parallelism, every rank's CPU generator state (rank order), so that a resumed run draws the same
// dropout on every rank. Without `optimizer`, no moments are saved: the final state of a finished run
// that another continues from (TrainConfig::keep_final_state).
void save_checkpoint(const std::string& run_dir, const NamedTensorList& state, const AdamW* optimizer,
                     const Checkpoint& c, const nlohmann::json& identity, const std::vector<at::Tensor>& rank_rngs = {});
// Loads the checkpoint into `state`, the optimizer, `c` and the CPU generator; false when there is none.
bool load_checkpoint(const std::string& run_dir, const NamedTensorList& state, AdamW& optimizer, Checkpoint& c,
                     const nlohmann::json& identity);
// Data parallelism: rank 0's state on every rank (its weights; after a resume also its step, best
// metric, optimizer moments, and each rank's saved generator state). Returns whether rank 0 resumed.
bool sync_start(Dist& dist, const NamedTensorList& state, AdamW& optimizer, Checkpoint& c, bool resumed,
                const std::string& run_dir);
// The final state a finished run kept (TrainConfig::keep_final_state) into `state` and the CPU
// generator: rank 0 reads it and, with data parallelism (`dist`), sends the weights and each rank's
// generator state to every rank. IoError when the run kept none.
void load_final_state(const std::string& run_dir, const NamedTensorList& state, Dist* dist);

}  // namespace lth::train
