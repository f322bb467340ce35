// A progress bar on stderr, drawn only when stderr is a terminal: done/total, rate, ETA and an
// optional status text (e.g. the running loss).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lth {

class Progress {
 public:
  Progress(std::string label, int64_t total);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(int64_t done, const std::string& status = "");
  void finish();

 private:
  void draw(bool final);

  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  std::string status_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace lth
