// GCC's vector type of 8 floats for the kernels' own vector loops (attention.cpp, layer_norm.cpp,
// conv_direct.cpp): one AVX register in the AVX2 and AVX-512 clones, two SSE registers in the default one. The row
// reductions here use it because plain loops do not vectorise them: a reduction's order may not change without
// -ffast-math. Always inlined, so each target clone of a caller gets its own vector code.
#pragma once

#include <algorithm>
#include <cstring>

// load8 is always inlined into its callers' clones; GCC still notes that a by-value AVX vector changes the calling
// convention where AVX is off.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace bw {
constexpr int kLanes = 8;
typedef float Floats8 __attribute__((vector_size(kLanes * sizeof(float))));

__attribute__((always_inline)) inline Floats8 load8(const float *from) {
  Floats8 v;
  std::memcpy(&v, from, sizeof v);
  return v;
}

__attribute__((always_inline)) inline float lane_max(const float *x, int n) {
  Floats8 lanes = {};
  lanes -= 3.4e38f;
  int j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const Floats8 v = load8(x + j);
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
  for (; j + kLanes <= n; j += kLanes) lanes += y ? load8(x + j) * load8(y + j) : load8(x + j);
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
    const Floats8 u = load8(x + j) - mean;
    lanes += u * u;
  }
  float sum = 0.f;
  for (int l = 0; l < kLanes; ++l) sum += lanes[l];
  for (; j < n; ++j) sum += (x[j] - mean) * (x[j] - mean);
  return sum;
}
}  // namespace bw
