#include "train/op_profile.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <vector>

#include <ATen/record_function.h>
#include <fmt/format.h>

#include "core/error.h"

namespace lth::train {

// One operator's sums over the run.
struct OpSum {
  int64_t calls = 0;
  int64_t self_ns = 0;
  int64_t total_ns = 0;
};

namespace {

using Clock = std::chrono::steady_clock;

// One open operator on this thread: its start and the time of the operators it called.
struct Frame {
  Clock::time_point start;
  int64_t children_ns = 0;
};

// The observer callbacks are plain function pointers, so the sums they add to are global; one
// OpProfile may be active at a time.
std::mutex g_mutex;
std::map<std::string, OpSum>* g_sums = nullptr;
thread_local std::vector<Frame> t_stack;

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction&) {
  t_stack.push_back({Clock::now(), 0});
  return nullptr;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext*) {
  if (t_stack.empty()) return;  // an operator that started before the profile did
  const int64_t total = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t_stack.back().start).count();
  const int64_t self = total - t_stack.back().children_ns;
  t_stack.pop_back();
  if (!t_stack.empty()) t_stack.back().children_ns += total;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_sums == nullptr) return;
  OpSum& s = (*g_sums)[fn.name()];
  s.calls += 1;
  s.self_ns += self;
  s.total_ns += total;
}

}  // namespace

struct OpProfile::Impl {
  std::map<std::string, OpSum> sums;
  at::CallbackHandle handle = 0;
  bool active = false;
  Clock::time_point start;
  int64_t wall_ns = 0;  // from start to stop
};

OpProfile::OpProfile() : impl_(std::make_unique<Impl>()) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_sums != nullptr) throw Error("one operator profile at a time");
  g_sums = &impl_->sums;
  t_stack.clear();
  impl_->handle = at::addGlobalCallback(at::RecordFunctionCallback(on_start, on_end)
                                            .needsInputs(false)
                                            .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
  impl_->active = true;
  impl_->start = Clock::now();
}

OpProfile::~OpProfile() { stop(); }

void OpProfile::stop() {
  if (!impl_->active) return;
  at::removeCallback(impl_->handle);
  impl_->wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - impl_->start).count();
  std::lock_guard<std::mutex> lock(g_mutex);
  g_sums = nullptr;
  impl_->active = false;
}

std::string OpProfile::table(int64_t steps, std::size_t top, const std::string& title) const {
  std::vector<std::pair<std::string, OpSum>> rows(impl_->sums.begin(), impl_->sums.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.self_ns > b.second.self_ns; });
  int64_t all_ns = 0;
  for (const auto& [name, s] : rows) all_ns += s.self_ns;
  const double per = steps > 0 ? 1.0 / static_cast<double>(steps) : 1.0;
  // Time outside every operator: lth's own kernels (dropout masks, AdamW), the loop, and the observer.
  std::string out = fmt::format("# {}\n\nOperators by self time (LibTorch RecordFunction, CPU wall time), per step "
                                "over {} steps: {:.2f} ms/step inside operators of {:.2f} ms/step wall (the rest is "
                                "code outside LibTorch operators).\n\n"
                                "| operator | calls/step | self ms/step | share | total ms/step |\n"
                                "|---|---:|---:|---:|---:|\n",
                                title, steps, 1e-6 * static_cast<double>(all_ns) * per,
                                1e-6 * static_cast<double>(impl_->wall_ns) * per);
  for (std::size_t i = 0; i < rows.size() && (top == 0 || i < top); ++i) {
    const auto& [name, s] = rows[i];
    out += fmt::format("| {} | {:.1f} | {:.3f} | {:.1f}% | {:.3f} |\n", name, static_cast<double>(s.calls) * per,
                       1e-6 * static_cast<double>(s.self_ns) * per,
                       all_ns > 0 ? 100.0 * static_cast<double>(s.self_ns) / static_cast<double>(all_ns) : 0.0,
                       1e-6 * static_cast<double>(s.total_ns) * per);
  }
  return out;
}

}  // namespace lth::train
