// core/omp_wait.h: the spin decision cli/main.cpp makes before libgomp starts, on hand-made inputs.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/omp_wait.h"

namespace ow = lth::omp_wait;

namespace {

int threads_of(std::vector<const char*> args, int cpus) {
  args.insert(args.begin(), "lth");
  return ow::threads_in_args(static_cast<int>(args.size()), const_cast<char**>(args.data()), cpus);
}

}  // namespace

TEST_CASE("omp_wait: the runnable count is the number before the slash of /proc/loadavg's 4th field") {
  CHECK(ow::runnable_in_loadavg("0.79 0.74 1.04 1/111 9527\n") == 1);
  CHECK(ow::runnable_in_loadavg("18.20 19.01 17.5 23/412 100") == 23);
  CHECK(ow::runnable_in_loadavg("  0.00   0.01 0.05   3/90 1") == 3);
  CHECK(ow::runnable_in_loadavg("0.79 0.74 1.04") == -1);
  CHECK(ow::runnable_in_loadavg("0.79 0.74 1.04 x/111 9527") == -1);
  CHECK(ow::runnable_in_loadavg("0.79 0.74 1.04 12 9527") == -1);
  CHECK(ow::runnable_in_loadavg("") == -1);
  CHECK(ow::runnable_in_loadavg("1 2 3 99999999999/4 5") == -1);
}

TEST_CASE("omp_wait: --threads is read as lth's parser reads it, the default is every core") {
  CHECK(threads_of({"finetune", "--model", "m"}, 8) == 8);
  CHECK(threads_of({"finetune", "--threads", "2"}, 8) == 2);
  CHECK(threads_of({"eval", "--threads=3", "--model", "m"}, 8) == 3);
  CHECK(threads_of({"eval", "--threads", "0"}, 8) == 8);       // 0 = all cores
  CHECK(threads_of({"eval", "--threads", "two"}, 8) == 8);     // CLI11 rejects it later
  CHECK(threads_of({"eval", "--threads"}, 8) == 8);            // a missing value too
  CHECK(threads_of({"eval", "--threadsx", "1"}, 8) == 8);      // another flag
  CHECK(threads_of({"eval", "--threads", "1", "--threads", "4"}, 8) == 4);  // the last one wins
  CHECK(threads_of({"launch", "--", "finetune", "--threads", "1"}, 8) == 8);  // not lth's own flag
}

TEST_CASE("omp_wait: spin only when the team has the cores to itself") {
  CHECK(ow::spin_count(0, 2, 2) == ow::kSpinWhenFree);
  CHECK(ow::spin_count(1, 2, 2) == 0);   // another busy process on a 2-core machine
  CHECK(ow::spin_count(1, 2, 4) == ow::kSpinWhenFree);
  CHECK(ow::spin_count(3, 2, 4) == 0);
  CHECK(ow::spin_count(0, 1, 2) == 0);   // one thread: no team to wait for
  CHECK(ow::spin_count(-1, 2, 2) == 0);  // load unknown
  CHECK(ow::spin_count(0, 2, 0) == 0);
  CHECK(ow::kSpinWhenFree > 0);
  CHECK(std::string(ow::kSpinWhenFreeEnv) == "GOMP_SPINCOUNT=" + std::to_string(ow::kSpinWhenFree));
  CHECK(ow::kSpinWhenFree < 300000);     // below libgomp's own default (~3 ms), which starved shared cores
}
