// lth: lottery tickets in pretrained BERT. main() only wires the subcommands and maps errors to
// exit codes: 0 success, 1 runtime error, 2 usage error.
#include <malloc.h>

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/omp_wait.h"
#include "core/runtime.h"

namespace {

// libgomp reads its wait policy once, in its own initialiser, so unless the user chose one this binary
// runs itself again with OMP_WAIT_POLICY=PASSIVE and, when its team has the cores to itself, a short
// GOMP_SPINCOUNT (core/omp_wait.h says why: libgomp's default 3 ms spin starved the other work on a
// shared machine, up to 10x; sleeping at once pays an idle virtual CPU's wake-up at every parallel
// region, 1.3-1.5x on BERT-Tiny training; docs/BENCHMARKS.md). It does so from .preinit_array, which
// runs before any shared library's initialiser: the second start costs the dynamic loader alone, not
// LibTorch's static initialisation again (~0.7 s of CPU per command, which the test suites pay
// hundreds of times). No allocation here: malloc and the environment are not set up yet.
char* g_passive_env[4096];
char g_passive[] = "OMP_WAIT_POLICY=PASSIVE";

// Other runnable tasks than this one, the most of a few samples of /proc/loadavg ~1 ms apart; -1 when
// it cannot be read.
int other_runnable_tasks() {
  int most = -1;
  for (int sample = 0; sample < 4; ++sample) {
    if (sample > 0) {
      const timespec pause{0, 1000000};
      nanosleep(&pause, nullptr);
    }
    const int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char text[256];
    const ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return -1;
    text[n] = '\0';
    const int runnable = lth::omp_wait::runnable_in_loadavg(text);
    if (runnable < 1) return -1;
    most = std::max(most, runnable - 1);
  }
  return most;
}

void run_with_passive_omp(int argc, char** argv, char** envp) {
  size_t n = 0;
  bool user_spin = false;
  for (; envp[n] != nullptr; ++n) {
    if (std::strncmp(envp[n], "OMP_WAIT_POLICY=", 16) == 0) return;
    if (std::strncmp(envp[n], "GOMP_SPINCOUNT=", 15) == 0) user_spin = true;
  }
  if (n + 3 > sizeof g_passive_env / sizeof g_passive_env[0]) return;  // main's fallback below
  for (size_t i = 0; i < n; ++i) g_passive_env[i] = envp[i];
  g_passive_env[n++] = g_passive;
  // `lth launch` starts workers that inherit this environment and share the cores: they sleep at once.
  const bool launcher = argc > 1 && std::strcmp(argv[1], "launch") == 0;
  if (!user_spin && !launcher) {
    const int cpus = lth::available_cores();
    const int threads = lth::omp_wait::threads_in_args(argc, argv, cpus);
    // One thread has no team to wait for: the load is not even read.
    if (threads > 1 && lth::omp_wait::spin_count(other_runnable_tasks(), threads, cpus) > 0) {
      g_passive_env[n++] = const_cast<char*>(lth::omp_wait::kSpinWhenFreeEnv);  // execve only reads it
    }
  }
  g_passive_env[n] = nullptr;
  execve("/proc/self/exe", argv, g_passive_env);  // returns only on failure: main tries again
}

__attribute__((section(".preinit_array"), used)) void (*const kRunWithPassiveOmp)(int, char**, char**) =
    run_with_passive_omp;

bool g_verbose = false;  // --verbose: the full message (and LibTorch's detail) after the line

// Longest error line (after "lth: error: "). Messages name their file first, so the head is kept.
constexpr size_t kMaxErrorChars = 280;

// The error contract: ONE stderr line "lth: error: <message>" (line breaks inside become "; "),
// at most ~300 characters; with --verbose the untruncated `detail` (default: the message) follows.
void print_error(const std::string& message, const std::string& detail = "") {
  std::string line;
  for (char c : message) {
    if (c == '\n') {
      if (!line.empty() && line.back() != ' ') line += "; ";
    } else if (c != '\r') {
      line += c;
    }
  }
  while (!line.empty() && (line.back() == ' ' || line.back() == ';')) line.pop_back();
  const bool cut = line.size() > kMaxErrorChars;
  if (cut) {
    size_t keep = kMaxErrorChars - 60;
    while (keep > 0 && (static_cast<unsigned char>(line[keep]) & 0xC0) == 0x80) --keep;  // whole UTF-8 characters
    const size_t rest = line.size() - keep;
    line = line.substr(0, keep) + fmt::format(" ... ({} more characters; --verbose shows them)", rest);
  }
  std::fprintf(stderr, "lth: error: %s\n", line.c_str());
  if (g_verbose && (cut || !detail.empty())) {
    std::fprintf(stderr, "lth: detail:\n%s\n", (detail.empty() ? message : detail).c_str());
  }
}

// lth launch ... -- COMMAND: COMMAND's words are taken out of `args` before CLI11 sees them, and
// reach the workers exactly as given.
std::vector<std::string> take_launched_command(std::vector<std::string>& args) {
  std::vector<std::string> launched;
  if (args.empty() || args[0] != "launch") return launched;
  const auto dashes = std::find(args.begin(), args.end(), "--");
  if (dashes == args.end()) return launched;
  launched.assign(dashes + 1, args.end());
  args.erase(dashes, args.end());
  return launched;
}

}  // namespace

int main(int argc, char** argv) {
  // The fallback of run_with_passive_omp (an environment too large for its table, or execve failed).
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0) {
    execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
  }
  // Keep large tensor buffers in the heap instead of mmap/munmap per allocation: glibc's default
  // churn (page faults on every fresh gradient/activation buffer) cost 1.3-1.9x in fine-tuning
  // throughput here (docs/BENCHMARKS.md).
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // Every command starts from the same random state; one with a --seed sets its own later.
  lth::seed_default_generator();
  CLI::App app{"lth: find lottery tickets (sparse trainable subnetworks) in pretrained BERT", "lth"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "Print version, BLAS and thread information");
  app.add_flag("--verbose", g_verbose, "On an error, print its full detail after the one-line message (any position)");
  app.fallthrough();  // --verbose also after the command's name (subcommands inherit this)
  app.set_help_all_flag("--help-all", "Print help for every command");

  lth::cli::add_version_command(app);
  lth::cli::add_inspect_command(app);
  lth::cli::add_forward_command(app);
  lth::cli::add_tokenize_command(app);
  lth::cli::add_finetune_command(app);
  lth::cli::add_eval_command(app);
  lth::cli::add_pretrain_command(app);
  lth::cli::add_prune_command(app);
  lth::cli::add_transfer_command(app);
  lth::cli::add_mask_command(app);
  lth::cli::add_report_command(app);
  lth::cli::add_mux_command(app);
  lth::cli::add_export_command(app);
  lth::cli::add_bench_command(app);
  std::vector<std::string> args(argv + 1, argv + argc);
  lth::cli::add_launch_command(app, take_launched_command(args));
  lth::cli::add_plan_command(app);

  // `lth --version ARGS` is `lth version ARGS` (so --version --threads N is checked like every --threads).
  if (!args.empty() && args[0] == "--version") {
    args[0] = "version";
    show_version = false;
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments in reverse order
  try {
    app.parse(args);
    if (show_version) {
      app.get_subcommand("version")->parse(std::vector<std::string>{});
    } else if (app.get_subcommands().empty()) {
      std::fputs(app.help().c_str(), stdout);
      return 2;
    }
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(std::string(e.what()) + " (see 'lth --help' or 'lth COMMAND --help')");
    return 2;
  } catch (const lth::UsageError& e) {
    print_error(e.what(), e.detail());
    return 2;
  } catch (const lth::Error& e) {
    print_error(e.what(), e.detail());
    return 1;
  } catch (const c10::Error& e) {
    print_error(e.what_without_backtrace(), e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "lth: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
  return 0;
}
