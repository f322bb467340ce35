// lth launch: starts the workers of a data-parallel job on this machine (like torchrun), one
// process per worker with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set; forwards
// SIGINT/SIGTERM; when a worker fails, stops the others and exits with the failed worker's code.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"
#include "dist/launch.h"

namespace lth::cli {

void add_launch_command(CLI::App& app, std::vector<std::string> command) {
  auto o = std::make_shared<dist::LaunchOptions>();
  o->command = std::move(command);
  auto* cmd = app.add_subcommand(
      "launch", "Run a training command as N data-parallel workers on this machine: lth launch --nproc 2 -- lth finetune ...");
  add_number(*cmd, "--nproc", o->nproc, "Workers on this machine", count(1, 1024))->capture_default_str();
  add_number(*cmd, "--nnodes", o->nnodes, "Machines in the job (run lth launch once on each)", count(1, 1 << 16))
      ->capture_default_str();
  add_number(*cmd, "--node-rank", o->node_rank, "This machine's index, 0..nnodes-1", count(0, 1 << 16))->capture_default_str();
  cmd->add_option("--master-addr", o->master_addr, "Address of the machine with node rank 0")->capture_default_str();
  add_number(*cmd, "--master-port", o->master_port, "Rendezvous port (default: a free port; required with --nnodes > 1)",
             count(0, 65535));
  add_number(*cmd, "--grace", o->grace, "Seconds the other workers get to stop after one fails", non_negative_number())
      ->capture_default_str();
  cmd->add_option("command", o->command, "The command every worker runs (after --)");
  cmd->callback([o] {
    LTH_CHECK(!o->command.empty(), UsageError, "lth launch: give the command every worker runs after --");
    // The job's exit code is the failed worker's (main maps only lth's own errors).
    const int code = dist::launch(*o);
    std::fflush(stdout);
    if (code != 0) std::exit(code);
  });
}

}  // namespace lth::cli
