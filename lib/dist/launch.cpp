#include "dist/launch.h"

#include <arpa/inet.h>
#include <fcntl.h>
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
#include <thread>

#include <fmt/format.h>

#include "core/error.h"

namespace lth::dist {
namespace {

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

// In the child: the torchrun variables that place this worker in the job.
void set_worker_env(const LaunchOptions& o, int rank, int local_rank, int world, int port) {
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(local_rank).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
  ::setenv("GROUP_RANK", std::to_string(o.node_rank).c_str(), 1);
  ::setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
  ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
}

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
  set_worker_env(o, rank, local_rank, world, port);
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

void check_options(const LaunchOptions& o) {
  LTH_CHECK(!o.command.empty(), UsageError, "lth launch: no command (lth launch --nproc 2 -- lth finetune ...)");
  LTH_CHECK(o.nproc >= 1 && o.nnodes >= 1, UsageError, "--nproc and --nnodes must be at least 1");
  LTH_CHECK(o.node_rank >= 0 && o.node_rank < o.nnodes, UsageError, "--node-rank {} is outside 0..{}", o.node_rank,
            o.nnodes - 1);
  LTH_CHECK(o.nnodes == 1 || o.master_port > 0, UsageError,
            "with --nnodes > 1 give the same --master-port (and --master-addr) on every machine");
}

void warn_without_threads(const LaunchOptions& o) {
  bool threads_given = false;
  for (const auto& a : o.command) threads_given = threads_given || a == "--threads" || a.rfind("--threads=", 0) == 0;
  if (!threads_given && o.nproc > 1) {
    std::fprintf(stderr, "lth launch: warning: no --threads in the command: each of %d workers uses every core\n", o.nproc);
  }
}

// The launcher's SIGINT/SIGTERM handlers while workers run, and the ones they replaced.
struct SignalHandlers {
  struct sigaction old_int {}, old_term {};
};

SignalHandlers catch_signals() {
  g_launch_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_launch_signal;
  sigemptyset(&sa.sa_mask);
  SignalHandlers saved;
  ::sigaction(SIGINT, &sa, &saved.old_int);
  ::sigaction(SIGTERM, &sa, &saved.old_term);
  return saved;
}

void restore_signals(const SignalHandlers& saved) {
  ::sigaction(SIGINT, &saved.old_int, nullptr);
  ::sigaction(SIGTERM, &saved.old_term, nullptr);
}

std::vector<Worker> start_workers(const LaunchOptions& o, int world, int port) {
  std::vector<Worker> workers;
  for (int local = 0; local < o.nproc; ++local) {
    Worker w;
    w.rank = o.node_rank * o.nproc + local;
    w.pid = spawn(o, local, world, port);
    workers.push_back(w);
    std::fprintf(stderr, "lth launch: rank %d (pid %d) started, world %d, rendezvous %s:%d\n", w.rank,
                 static_cast<int>(w.pid), world, o.master_addr.c_str(), port);
  }
  return workers;
}

// Watches the workers until all have exited: stops the others when one fails, forwards a signal
// (and kills on a second one), and kills what a failure stopped once `grace` seconds have passed.
class Supervisor {
 public:
  using Clock = std::chrono::steady_clock;

  Supervisor(std::vector<Worker>& workers, double grace) : workers_(workers), grace_(grace) {}

  void run() {
    for (;;) {
      std::vector<Worker*> exited;
      const int running = reap(workers_, exited);
      if (failed_ == nullptr && forwarded_ == 0) note_failure(exited);
      if (running == 0) break;
      const int sig = g_launch_signal.exchange(0);
      if (sig != 0) on_signal(sig);
      // Workers stopped because of a failure get `grace` seconds; after a forwarded signal they may
      // take as long as a checkpoint needs (a second signal kills them).
      if (stopping_ && failed_ != nullptr && !killed_ &&
          std::chrono::duration<double>(Clock::now() - stop_since_).count() > grace_) {
        signal_all(workers_, SIGKILL);
        killed_ = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  const Worker* failed() const { return failed_; }
  int forwarded() const { return forwarded_; }  // the signal passed on (the job was asked to stop)

 private:
  // The cause of a failure: a worker killed by a signal before one that exited with an error (its
  // peers then fail in their collectives).
  void note_failure(const std::vector<Worker*>& exited) {
    for (Worker* w : exited) {
      if (w->status != 0 && (failed_ == nullptr || (WIFSIGNALED(w->status) && !WIFSIGNALED(failed_->status)))) failed_ = w;
    }
    if (failed_ == nullptr) return;
    std::fprintf(stderr, "lth launch: error: worker rank %d (pid %d) %s; stopping the other workers\n", failed_->rank,
                 static_cast<int>(failed_->pid), describe(failed_->status).c_str());
    signal_all(workers_, SIGTERM);
    stopping_ = true;
    stop_since_ = Clock::now();
  }

  void on_signal(int sig) {
    if (forwarded_ == 0 && !stopping_) {
      std::fprintf(stderr, "lth launch: signal %d: passing it to the workers (they save a checkpoint and stop)\n", sig);
      signal_all(workers_, sig);
      forwarded_ = sig;
      stopping_ = true;
      stop_since_ = Clock::now();
    } else {
      signal_all(workers_, SIGKILL);  // asked twice
      killed_ = true;
    }
  }

  std::vector<Worker>& workers_;
  double grace_;
  int forwarded_ = 0;
  const Worker* failed_ = nullptr;
  Clock::time_point stop_since_{};
  bool stopping_ = false, killed_ = false;
};

int job_exit_code(const Supervisor& supervisor, const std::vector<Worker>& workers) {
  if (const Worker* failed = supervisor.failed()) {
    std::fprintf(stderr, "lth launch: job failed: worker rank %d %s\n", failed->rank, describe(failed->status).c_str());
    return exit_code_of(failed->status);
  }
  if (const int forwarded = supervisor.forwarded(); forwarded != 0) {
    std::fprintf(stderr, "lth launch: stopped by signal %d; run the same command again to resume\n", forwarded);
    return 128 + forwarded;
  }
  for (const auto& w : workers) {
    if (w.status != 0) return exit_code_of(w.status);
  }
  return 0;
}

}  // namespace

int launch(const LaunchOptions& options) {
  check_options(options);
  const int world = options.nproc * options.nnodes;
  const int port = options.master_port > 0 ? options.master_port : free_port();
  warn_without_threads(options);
  const SignalHandlers saved = catch_signals();
  std::vector<Worker> workers = start_workers(options, world, port);
  Supervisor supervisor(workers, options.grace);
  supervisor.run();
  restore_signals(saved);
  return job_exit_code(supervisor, workers);
}

}  // namespace lth::dist
