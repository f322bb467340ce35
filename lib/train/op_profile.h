// Per-operator time of a training run (lth finetune --profile-ops FILE): every LibTorch operator and
// autograd node the run executes, with its calls and its self time (its own time minus that of the
// operators it called), summed over the run. Built on LibTorch's RecordFunction observers, which
// exist unchanged in 1.13 and 2.x; CPU wall time, so on CUDA it shows launch cost, not kernel time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace lth::train {

class OpProfile {
 public:
  // Starts observing the operators of every thread.
  OpProfile();
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  // Stops observing (idempotent); the sums stay readable.
  void stop();

  // A Markdown table of the `top` operators (0: all) by self time, per step of `steps`, with each one's
  // share of the time inside operators; the header gives that time and the wall time from start to
  // stop. `title` heads it.
  std::string table(int64_t steps, std::size_t top, const std::string& title) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lth::train
