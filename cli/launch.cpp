// lth launch: starts the workers of a data-parallel job on this machine (like torchrun), one
// process per worker with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set; forwards
// SIGINT/SIGTERM; when a worker fails, stops the others and exits with the failed worker's code.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/error.h"

namespace lth::cli {
namespace {

struct LaunchOptions {
  int nproc = 1;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;  // 0: a free port (single node), 29500 with several nodes
  double grace = 10.0;  // seconds between SIGTERM and SIGKILL when stopping workers
  std::vector<std::string> command;
};

std::atomic<int> g_launch_signal{0};
extern "C" void on_launch_signal(int sig) { g_launch_signal = sig; }

// A port nobody listens on now (the rendezvous binds it a moment later).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  LTH_CHECK(fd >= 0, Error, "lth launch: socket: {}", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    LTH_FAIL(Error, "lth launch: cannot find a free port: {}", std::strerror(errno));
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

std::string self_exe() {
  std::vector<char> buf(4096);
  const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  return n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : std::string("lth");
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("exited with code {}", WEXITSTATUS(status));
}

int exit_code_of(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  bool running = true;
  int status = 0;
};

pid_t spawn(const LaunchOptions& o, int local_rank, int world, int port) {
  const int rank = o.node_rank * o.nproc + local_rank;
  std::vector<std::string> args = o.command;
  if (args[0] == "lth") args[0] = self_exe();  // the same build as the launcher
  const pid_t pid = ::fork();
  LTH_CHECK(pid >= 0, Error, "lth launch: fork: {}", std::strerror(errno));
  if (pid > 0) return pid;
  ::setpgid(0, 0);  // the launcher alone receives terminal signals, and forwards them once
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(local_rank).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
  ::setenv("GROUP_RANK", std::to_string(o.node_rank).c_str(), 1);
  ::setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
  ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  if (rank != 0) {  // one copy of the command's output (rank 0's); logs (stderr) from everyone
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, 1);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  std::fprintf(stderr, "lth launch: cannot run %s: %s\n", argv[0], std::strerror(errno));
  ::_exit(127);
}

// Reaps every worker that has exited; returns how many are still running.
int reap(std::vector<Worker>& workers, std::vector<Worker*>& exited) {
  int running = 0;
  for (auto& w : workers) {
    if (!w.running) continue;
    int status = 0;
    const pid_t r = ::waitpid(w.pid, &status, WNOHANG);
    if (r == w.pid) {
      w.running = false;
      w.status = status;
      exited.push_back(&w);
    } else {
      ++running;
    }
  }
  return running;
}

void signal_all(std::vector<Worker>& workers, int sig) {
  for (auto& w : workers) {
    if (w.running) ::kill(-w.pid, sig);  // the worker's process group (it may have children)
  }
}

int run_launch(const LaunchOptions& o) {
  LTH_CHECK(!o.command.empty(), UsageError, "lth launch: no command (lth launch --nproc 2 -- lth finetune ...)");
  LTH_CHECK(o.nproc >= 1 && o.nnodes >= 1, UsageError, "--nproc and --nnodes must be at least 1");
  LTH_CHECK(o.node_rank >= 0 && o.node_rank < o.nnodes, UsageError, "--node-rank {} is outside 0..{}", o.node_rank,
            o.nnodes - 1);
  LTH_CHECK(o.nnodes == 1 || o.master_port > 0, UsageError,
            "with --nnodes > 1 give the same --master-port (and --master-addr) on every machine");
  const int world = o.nproc * o.nnodes;
  const int port = o.master_port > 0 ? o.master_port : free_port();
  bool threads_given = false;
  for (const auto& a : o.command) threads_given = threads_given || a == "--threads" || a.rfind("--threads=", 0) == 0;
  if (!threads_given && o.nproc > 1) {
    std::fprintf(stderr, "lth launch: warning: no --threads in the command: each of %d workers uses every core\n", o.nproc);
  }

  g_launch_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_launch_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);

  std::vector<Worker> workers;
  for (int local = 0; local < o.nproc; ++local) {
    Worker w;
    w.rank = o.node_rank * o.nproc + local;
    w.pid = spawn(o, local, world, port);
    workers.push_back(w);
    std::fprintf(stderr, "lth launch: rank %d (pid %d) started, world %d, rendezvous %s:%d\n", w.rank,
                 static_cast<int>(w.pid), world, o.master_addr.c_str(), port);
  }

  using Clock = std::chrono::steady_clock;
  int forwarded = 0;           // the signal we passed on (the job was asked to stop)
  const Worker* failed = nullptr;
  Clock::time_point stop_since{};
  bool stopping = false, killed = false;
  for (;;) {
    std::vector<Worker*> exited;
    const int running = reap(workers, exited);
    // The cause of a failure: a worker killed by a signal before one that exited with an error
    // (its peers then fail in their collectives).
    if (failed == nullptr && forwarded == 0) {
      for (Worker* w : exited) {
        if (w->status != 0 && (failed == nullptr || (WIFSIGNALED(w->status) && !WIFSIGNALED(failed->status)))) failed = w;
      }
      if (failed != nullptr) {
        std::fprintf(stderr, "lth launch: error: worker rank %d (pid %d) %s; stopping the other workers\n", failed->rank,
                     static_cast<int>(failed->pid), describe(failed->status).c_str());
        signal_all(workers, SIGTERM);
        stopping = true;
        stop_since = Clock::now();
      }
    }
    if (running == 0) break;
    const int sig = g_launch_signal.exchange(0);
    if (sig != 0) {
      if (forwarded == 0 && !stopping) {
        std::fprintf(stderr, "lth launch: signal %d: passing it to the workers (they save a checkpoint and stop)\n", sig);
        signal_all(workers, sig);
        forwarded = sig;
        stopping = true;
        stop_since = Clock::now();
      } else {
        signal_all(workers, SIGKILL);  // asked twice
        killed = true;
      }
    }
    // Workers stopped because of a failure get `grace` seconds; after a forwarded signal they may
    // take as long as a checkpoint needs (a second signal kills them).
    if (stopping && failed != nullptr && !killed &&
        std::chrono::duration<double>(Clock::now() - stop_since).count() > o.grace) {
      signal_all(workers, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  if (failed != nullptr) {
    std::fprintf(stderr, "lth launch: job failed: worker rank %d %s\n", failed->rank, describe(failed->status).c_str());
    return exit_code_of(failed->status);
  }
  if (forwarded != 0) {
    std::fprintf(stderr, "lth launch: stopped by signal %d; run the same command again to resume\n", forwarded);
    return 128 + forwarded;
  }
  for (const auto& w : workers) {
    if (w.status != 0) return exit_code_of(w.status);
  }
  return 0;
}

}  // namespace

void add_launch_command(CLI::App& app) {
  auto o = std::make_shared<LaunchOptions>();
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
  cmd->add_option("command", o->command, "The command every worker runs (after --)")->required();
  cmd->callback([o] {
    // The job's exit code is the failed worker's (main maps only lth's own errors).
    const int code = run_launch(*o);
    std::fflush(stdout);
    if (code != 0) std::exit(code);
  });
}

}  // namespace lth::cli
