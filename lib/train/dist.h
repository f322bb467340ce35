// Data parallelism as the training loop sees it: a group of processes (ranks) that each train on a
// slice of every global batch. This is the interface only; lib/dist implements it on PyTorch's
// c10d (Gloo, or NCCL when LibTorch has it). Single-process runs have no group (a null pointer),
// and the loop then runs exactly the code it always ran.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "train/data.h"

namespace lth::train {

class Dist {
 public:
  virtual ~Dist() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend() const = 0;
  bool is_main() const { return rank() == 0; }

  // Collectives on contiguous tensors (any device the backend supports), in place, on every rank.
  // `all_reduce_sum` starts one reduction per tensor (the buckets), then waits for all of them.
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
  virtual void all_reduce_sum(std::vector<at::Tensor>& tensors) = 0;
  // `tensor` has the same shape on every rank; returns one per rank, in rank order.
  virtual std::vector<at::Tensor> all_gather(const at::Tensor& tensor) = 0;
  virtual void barrier() = 0;

  // Seconds spent inside collectives since the start (benchmarks: the communication share).
  double comm_seconds() const { return comm_seconds_; }

 protected:
  double comm_seconds_ = 0.0;
};

// Root's string on every rank.
std::string broadcast_string(Dist& dist, const std::string& value, int root = 0);

// This rank's part of a global batch: a contiguous block of rows. Returns the factor by which this
// rank's mean loss must be multiplied so that averaging gradients over ranks gives the gradient of
// the global batch's mean loss (units are examples, or labelled tokens for per-token labels);
// 0 when the slice holds no unit (the rank then skips the forward pass).
double shard_batch(Batch& batch, LabelKind kind, const Dist& dist);

struct ReduceResult {
  double loss = 0.0;  // the global batch's loss
  bool stop = false;  // some rank was asked to stop (SIGINT/SIGTERM)
};

// Averages gradients over ranks in buckets of about `bucket_bytes` (gradients are flattened per
// bucket, in reverse parameter order as in DDP). A parameter that has a gradient on some rank gets
// one everywhere (zeros where missing). Also sums the loss and ORs the stop flags.
ReduceResult reduce_gradients(Dist& dist, const std::vector<at::Tensor>& parameters, double local_loss,
                              bool local_stop, int64_t bucket_bytes = 25 << 20);

}  // namespace lth::train
