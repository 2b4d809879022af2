// Row reductions for the kernels' own loops (attention.cpp, layer_norm.cpp), over GCC's vector type of 8 floats:
// one AVX register in the AVX2 and AVX-512 clones, two SSE registers in the default one. Plain loops do not
// vectorise: a reduction's order may not change without -ffast-math. Always inlined, so each target clone of a
// caller gets its own vector code.
#pragma once

#include <algorithm>
#include <cstring>

namespace bw {
typedef float Floats8 __attribute__((vector_size(32)));
constexpr int kLanes = 8;

__attribute__((always_inline)) inline float lane_max(const float *x, int n) {
  Floats8 lanes = {};
  lanes -= 3.4e38f;
  int j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    Floats8 v;
    std::memcpy(&v, x + j, sizeof v);
    lanes = lanes > v ? lanes : v;
  }
  float max = lanes[0];
  for (int l = 1; l < kLanes; ++l) max = std::max(max, lanes[l]);
  for (; j < n; ++j) max = std::max(max, x[j]);
  return max;
}

// Σ x·y, or Σ x without y.
__attribute__((always_inline)) inline float lane_sum(const float *x, const float *y, int n) {
  Floats8 lanes = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    Floats8 u, v = {1, 1, 1, 1, 1, 1, 1, 1};
    std::memcpy(&u, x + j, sizeof u);
    if (y) std::memcpy(&v, y + j, sizeof v);
    lanes += u * v;
  }
  float sum = 0.f;
  for (int l = 0; l < kLanes; ++l) sum += lanes[l];
  for (; j < n; ++j) sum += y ? x[j] * y[j] : x[j];
  return sum;
}

// Σ (x − mean)².
__attribute__((always_inline)) inline float lane_squared_deviations(const float *x, float mean, int n) {
  Floats8 lanes = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    Floats8 u;
    std::memcpy(&u, x + j, sizeof u);
    u -= mean;
    lanes += u * u;
  }
  float sum = 0.f;
  for (int l = 0; l < kLanes; ++l) sum += lanes[l];
  for (; j < n; ++j) sum += (x[j] - mean) * (x[j] - mean);
  return sum;
}
}  // namespace bw
