// Joining a group of training processes through PyTorch's c10d: rendezvous on a TCPStore hosted
// by rank 0, then a Gloo process group (CPU, and CUDA tensors) or NCCL (CUDA builds only).
// Configured like torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or by flags.
#pragma once

#include <memory>
#include <string>

#include "train/dist.h"

namespace lth::dist {

struct DistOptions {
  std::string init;              // empty: the environment (env://); or tcp://HOST:PORT
  int rank = -1;                 // -1: $RANK
  int world_size = -1;           // -1: $WORLD_SIZE
  std::string backend = "auto";  // auto (nccl for CUDA devices when built with it, else gloo) | gloo | nccl
  int timeout_seconds = 600;     // rendezvous and collective timeout
};

// Joins the group; returns null when there is nothing to join (no WORLD_SIZE/--world-size, or a
// world of one): such runs are single-process runs, bit for bit. `device` is the training device;
// "cuda" becomes "cuda:$LOCAL_RANK".
std::shared_ptr<train::Dist> init_process_group(const DistOptions& options, std::string& device);

// Whether this build can use NCCL (LibTorch built with CUDA and c10d NCCL).
bool have_nccl();

}  // namespace lth::dist
