#include "train/schedule.h"

#include <algorithm>

#include "core/error.h"
#include "core/step.h"
#include "train/trainer.h"

namespace lth::train {

int64_t steps_per_epoch(int64_t examples, int64_t batch, int64_t grad_accum) {
  const int64_t micro_batches = (examples + batch - 1) / batch;
  return std::max<int64_t>(1, micro_batches / grad_accum);
}

int64_t eval_interval(const std::string& every, int64_t per_epoch) {
  return every.empty() ? per_epoch : Step::parse(every).resolve(per_epoch);
}

double LrSchedule::at(int64_t step) const {
  if (warmup > 0 && step < warmup) return peak * static_cast<double>(step) / static_cast<double>(warmup);
  return peak * std::max(0.0, static_cast<double>(total - step) / static_cast<double>(std::max<int64_t>(1, total - warmup)));
}

Schedule make_schedule(const TrainConfig& config, int64_t examples, int64_t world) {
  Schedule s;
  s.global_batch = config.batch_size * world;
  s.steps_per_epoch = steps_per_epoch(examples, s.global_batch, config.grad_accum);
  s.lr.peak = config.lr;
  s.lr.total = Step::parse(config.length).resolve(s.steps_per_epoch);
  s.lr.warmup = Step::parse(config.warmup).resolve(s.steps_per_epoch);
  s.eval_every = eval_interval(config.eval_every, s.steps_per_epoch);
  s.save_every = Step::parse(config.save_every).resolve(s.steps_per_epoch);
  LTH_CHECK(s.total() > 0, UsageError, "training length {} is zero steps", config.length);
  return s;
}

}  // namespace lth::train
