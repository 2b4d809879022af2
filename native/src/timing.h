// How the kernels choose between implementations they measure (dense.cpp's GEMM backend, conv.cpp's backward-data
// layout and direct weight gradient): the wall time of one run, the best of three after a warm-up.
#pragma once

#include <algorithm>
#include <chrono>

namespace bw {
// Seconds of `run` on this thread: the best of three after a warm-up.
template <class Run>
double best_seconds(Run run) {
  double best = 1e30;
  for (int round = 0; round < 4; ++round) {
    const auto start = std::chrono::steady_clock::now();
    run();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (round > 0) best = std::min(best, seconds);
  }
  return best;
}
}  // namespace bw
