#pragma once
// How long LibTorch's OpenMP workers spin before they sleep, decided once per process before libgomp
// starts (cli/main.cpp runs this from .preinit_array, so: no allocation, no exceptions, no std::string).
//
// Measured on the 2-core VM (docs/BENCHMARKS.md "OpenMP wait policy"):
// - sleeping at once (OMP_WAIT_POLICY=PASSIVE, spin 0) costs a wake-up of an idle virtual CPU at every
//   parallel region: BERT-Tiny training ran 1.3-1.5x slower than with a ~0.1 ms spin;
// - spinning when another busy process shares the cores starves the team: the spinning process ran
//   ~2x slower, and two spinning with 0.3 ms (or libgomp's default 3 ms) up to 10x.
// So lth spins briefly only when its team has the cores to itself when it starts, and sleeps at once
// otherwise. A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT always wins (cli/main.cpp).

namespace lth::omp_wait {

// GOMP_SPINCOUNT when the cores are free (libgomp counts ~100 spins a microsecond: ~0.1 ms), as a
// number and as the environment entry cli/main.cpp adds.
#define LTH_OMP_SPIN_WHEN_FREE 10000
#define LTH_OMP_STRINGIFY(x) #x
#define LTH_OMP_STRING(x) LTH_OMP_STRINGIFY(x)
constexpr long kSpinWhenFree = LTH_OMP_SPIN_WHEN_FREE;
constexpr char kSpinWhenFreeEnv[] = "GOMP_SPINCOUNT=" LTH_OMP_STRING(LTH_OMP_SPIN_WHEN_FREE);

// The number of currently runnable tasks in /proc/loadavg's text ("0.79 0.74 1.04 1/111 9527": the
// 1 before the slash, this process included), or -1 when the text does not have that shape.
inline int runnable_in_loadavg(const char* text) {
  int field = 0;
  const char* p = text;
  while (*p != '\0' && field < 3) {  // skip the three load averages
    while (*p == ' ') ++p;
    if (*p == '\0') return -1;
    while (*p != ' ' && *p != '\0') ++p;
    ++field;
  }
  while (*p == ' ') ++p;
  if (*p < '0' || *p > '9') return -1;
  long n = 0;
  for (; *p >= '0' && *p <= '9'; ++p) {
    n = n * 10 + (*p - '0');
    if (n > 1000000) return -1;
  }
  return *p == '/' ? static_cast<int>(n) : -1;
}

// The intra-op threads a command line asks for: `--threads N` or `--threads=N` (0, absent or not a
// number: `cpus`, lth's default). A `--` ends lth's own arguments (`lth launch ... -- COMMAND`).
inline int threads_in_args(int argc, char** argv, int cpus) {
  auto parse = [cpus](const char* s) {
    long n = 0;
    if (*s == '\0') return cpus;
    for (; *s != '\0'; ++s) {
      if (*s < '0' || *s > '9' || n > 100000) return cpus;
      n = n * 10 + (*s - '0');
    }
    return n > 0 ? static_cast<int>(n) : cpus;
  };
  int threads = cpus;
  for (int i = 1; i < argc && argv[i] != nullptr; ++i) {
    const char* a = argv[i];
    if (a[0] == '-' && a[1] == '-' && a[2] == '\0') break;
    const char* flag = "--threads";
    int k = 0;
    while (flag[k] != '\0' && a[k] == flag[k]) ++k;
    if (flag[k] != '\0') continue;
    if (a[k] == '=') {
      threads = parse(a + k + 1);
    } else if (a[k] == '\0' && i + 1 < argc && argv[i + 1] != nullptr) {
      threads = parse(argv[++i]);
    }
  }
  return threads;
}

// The spin count for a team of `threads` on `cpus` cores while `others` other tasks are runnable:
// kSpinWhenFree when the team has cores to itself, 0 otherwise (and for one thread, which has no team
// to wait for; and when `others` is unknown, < 0).
inline long spin_count(int others, int threads, int cpus) {
  if (threads <= 1 || others < 0 || cpus <= 0) return 0;
  return others + threads <= cpus ? kSpinWhenFree : 0;
}

}  // namespace lth::omp_wait
