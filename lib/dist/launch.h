// Starting the workers of a data-parallel job on this machine (like torchrun): one process per
// worker with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT
// set; SIGINT/SIGTERM are forwarded; when a worker fails, the others are stopped.
#pragma once

#include <string>
#include <vector>

namespace lth::dist {

struct LaunchOptions {
  int nproc = 1;      // workers on this machine
  int nnodes = 1;     // machines in the job
  int node_rank = 0;  // this machine's index
  std::string master_addr = "127.0.0.1";
  int master_port = 0;  // 0: a free port (single node), 29500 with several nodes
  double grace = 10.0;  // seconds between SIGTERM and SIGKILL when stopping workers
  std::vector<std::string> command;  // what every worker runs; a leading "lth" is this executable
};

// Runs the job to its end and returns its exit code: the failed worker's (128 + signal when it was
// killed), 128 + the signal that stopped the job, else 0. Progress and failures are reported on
// stderr; only rank 0's stdout is kept. Throws UsageError for inconsistent options.
int launch(const LaunchOptions& options);

}  // namespace lth::dist
