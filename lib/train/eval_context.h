// What an evaluation runs with, passed explicitly from whoever evaluates (the training loop's
// evaluation hook, lth mux, lth eval) into tasks::Task::evaluate and on into tasks::predict: the
// precision and device, the forward pass to run on each batch and the data-parallel group to split
// the batches over.
#pragma once

#include <functional>
#include <string>

#include <c10/core/Device.h>

#include "model/bert.h"
#include "train/data.h"

namespace lth::train {

class Dist;  // train/dist.h

// One forward pass over a collated batch (no grad, eval mode and precision set by the caller); it
// must return one output row per batch row, as the plain model does.
using ForwardFn = std::function<model::BertOutputs(model::Bert&, const Batch&, const c10::Device&)>;

struct EvalContext {
  std::string precision = "fp32";  // fp32 | bf16 (resolved: never "auto")
  std::string device = "cpu";
  // The forward pass run on each batch; empty: the model's own. lth mux passes one that packs N
  // instances into each pass, so a task's own evaluation (and its official metric) runs multiplexed.
  ForwardFn forward;
  // Data parallelism: each rank runs some of the batches and every rank sees every output, so the
  // metrics are those of a single process. Null: one process.
  Dist* dist = nullptr;
};

}  // namespace lth::train
