// The training schedule: optimizer steps per epoch, the run's length and intervals resolved from
// their Step strings, and the learning rate at each step (linear warm-up, then linear decay to 0).
#pragma once

#include <cstdint>
#include <string>

namespace lth::train {

struct TrainConfig;  // train/trainer.h

// Optimizer steps in one epoch of `examples`: ceil(examples / batch) micro-batches, `grad_accum` of
// them per step; at least 1.
int64_t steps_per_epoch(int64_t examples, int64_t batch, int64_t grad_accum = 1);

// The evaluation interval in steps: `every` as a Step ("0it": 0, only at the end of training);
// empty: once per epoch.
int64_t eval_interval(const std::string& every, int64_t per_epoch);

// Linear warm-up from 0 to `peak` over `warmup` steps, then linear decay to 0 at step `total`.
struct LrSchedule {
  double peak = 0.0;
  int64_t warmup = 0;
  int64_t total = 0;

  double at(int64_t step) const;
};

// TrainConfig's lengths and intervals for `examples` training examples split over `world` ranks.
struct Schedule {
  int64_t global_batch = 0;  // examples per micro-batch, all ranks together
  int64_t steps_per_epoch = 1;
  int64_t eval_every = 0;    // 0: only at the end
  int64_t save_every = 0;    // 0: no periodic resume checkpoint
  LrSchedule lr;             // lr.total: the run's length in optimizer steps

  int64_t total() const { return lr.total; }
};

// Throws UsageError when a Step does not parse or the length is zero steps.
Schedule make_schedule(const TrainConfig& config, int64_t examples, int64_t world);

}  // namespace lth::train
