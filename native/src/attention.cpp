// The core of multi-head attention (bigwrap.nn.Attention) in one call per pass: every (batch row, head) pair's
// products run on MKL's GEMM straight from the projected tensors, a head being a strided block of columns (the
// leading dimension is heads·dim), so no head is ever copied out or added back; the softmax runs over each
// (steps × sources) plane in place, in the probabilities the backward pass reads. Per pair, a loop in the JVM made
// six JNI calls, copied or transposed five heads and ran the softmax in scalar code: 0.69× PyTorch's layer.
// The products stay fp32 in both precisions: at a head's size (keyDim 16 to 64) a bf16 GEMM spends more on
// converting its operands than it saves, and the softmax's gradient is a difference of nearly equal terms.
#include <algorithm>
#include <cstring>
#include <vector>

#include <mkl.h>

#include "kernels.h"
#include "lanes.h"

namespace bw {
namespace {
// Keras' `where(mask, scores, -1e9)`: a row with nothing to attend to then averages every step.
constexpr float kMasked = -1e9f;
// A shifted score below this has probability 0: exp(-87) ≈ 1.6e-38 is 0 beside the row's largest term (exp(0) = 1),
// below it the 2^n exp_nonpositive makes from exponent bits would leave the normal floats, and a masked key's
// score (-1e9) is 0 exactly, as in Keras. Its tiny exp instead, once divided by the row's sum, was a subnormal
// float in every masked cell, and each GEMM reading them ran 4× slower on Intel (microcode assists).
constexpr float kExpFloor = -87.f;

thread_local std::vector<float> plane_buffer;

// Where head h of batch row b starts in a (batch, rows, heads·dim) tensor; its rows are heads·dim values apart.
size_t head_at(const AttentionShape &s, int b, int h, int rows, int dim) {
  return (static_cast<size_t>(b) * rows * s.heads + h) * dim;
}

// exp(x) for x in [kExpFloor, 0], within an ulp: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 in two parts, Cody and
// Waite), e^r by Cephes' degree-7 polynomial, 2^n into the exponent bits; n rounded to nearest by adding and
// taking away 1.5·2^23. Branch-free, so it vectorises: MKL's vector exp cost a nanosecond a value, a third of the
// attention's forward pass.
__attribute__((always_inline)) inline float exp_nonpositive(float x) {
  const float n = (x * 1.44269504f + 12582912.f) - 12582912.f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

// In place over a (steps × sources) plane: scaled, masked scores → probabilities, max-subtracted per row.
__attribute__((target_clones("avx512f", "avx2", "default")))
void softmax_rows(float *p, const uint8_t *allowed, int steps, int sources, float scale) {
  for (int t = 0; t < steps; ++t) {
    float *row = p + static_cast<size_t>(t) * sources;
    const uint8_t *ok = allowed + static_cast<size_t>(t) * sources;
    for (int j = 0; j < sources; ++j) {
      const float z = row[j] * scale;
      row[j] = ok[j] ? z : kMasked;
    }
    const float max = lane_max(row, sources);
    for (int j = 0; j < sources; ++j) {
      const float shifted = row[j] - max;
      // a select, not a branch, so it vectorises; the max keeps the lanes it drops in exp's range
      row[j] = shifted < kExpFloor ? 0.f : exp_nonpositive(std::max(shifted, kExpFloor));
    }
    const float inverse = 1.f / lane_sum(row, nullptr, sources);
    for (int j = 0; j < sources; ++j) row[j] *= inverse;
  }
}

// In place: dp → the scores' gradient p ⊙ (dp − Σ dp⊙p)·scale, 0 where masked (a masked score is a constant).
__attribute__((target_clones("avx512f", "avx2", "default")))
void softmax_backward(const float *p, float *dp, const uint8_t *allowed, int steps, int sources, float scale) {
  for (int t = 0; t < steps; ++t) {
    const size_t row = static_cast<size_t>(t) * sources;
    const float dot = lane_sum(dp + row, p + row, sources);
    for (int j = 0; j < sources; ++j) {
      dp[row + j] = allowed[row + j] ? p[row + j] * (dp[row + j] - dot) * scale : 0.f;
    }
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void multiply(const float *a, const float *b, float *into, size_t n) {
  for (size_t i = 0; i < n; ++i) into[i] = a[i] * b[i];
}

// c = a·bᵀ (or a·b, or aᵀ·b) with row-major operands at any leading dimension, beta 0.
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float *a, int lda, const float *b,
          int ldb, float *c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.f, a, lda, b, ldb, 0.f, c, ldc);
}
}  // namespace

void attention_forward(const AttentionShape &s, const float *q, const float *k, const float *v,
                       const uint8_t *allowed, const float *kept, float *probabilities, float *y) {
  const size_t plane = static_cast<size_t>(s.steps) * s.sources;
  const int ldk = s.heads * s.key_dim, ldv = s.heads * s.value_dim;
  if (kept && plane_buffer.size() < plane) plane_buffer.resize(plane);
  float *const dropped = plane_buffer.data();  // once: each thread_local access is a call in a shared library
  for (int b = 0; b < s.batch; ++b) {
    const uint8_t *ok = allowed + b * plane;
    for (int h = 0; h < s.heads; ++h) {
      const size_t pair = static_cast<size_t>(b) * s.heads + h;
      const size_t queries = head_at(s, b, h, s.steps, s.key_dim), keys = head_at(s, b, h, s.sources, s.key_dim);
      float *p = probabilities + pair * plane;
      gemm(CblasNoTrans, CblasTrans, s.steps, s.sources, s.key_dim, q + queries, ldk, k + keys, ldk, p, s.sources);
      softmax_rows(p, ok, s.steps, s.sources, s.scale);
      const float *used = p;
      if (kept) {
        multiply(p, kept + pair * plane, dropped, plane);
        used = dropped;
      }
      gemm(CblasNoTrans, CblasNoTrans, s.steps, s.value_dim, s.sources, used, s.sources,
           v + head_at(s, b, h, s.sources, s.value_dim), ldv, y + head_at(s, b, h, s.steps, s.value_dim), ldv);
    }
  }
}

void attention_backward(const AttentionShape &s, const float *q, const float *k, const float *v,
                        const uint8_t *allowed, const float *kept, const float *probabilities, const float *dy,
                        float *dq, float *dk, float *dv) {
  const size_t plane = static_cast<size_t>(s.steps) * s.sources;
  const int ldk = s.heads * s.key_dim, ldv = s.heads * s.value_dim;
  if (plane_buffer.size() < 2 * plane) plane_buffer.resize(2 * plane);
  float *const dp = plane_buffer.data(), *const dropped = dp + plane;
  for (int b = 0; b < s.batch; ++b) {
    const uint8_t *ok = allowed + b * plane;
    for (int h = 0; h < s.heads; ++h) {
      const size_t pair = static_cast<size_t>(b) * s.heads + h;
      const size_t queries = head_at(s, b, h, s.steps, s.key_dim), keys = head_at(s, b, h, s.sources, s.key_dim);
      const size_t values = head_at(s, b, h, s.sources, s.value_dim), outputs = head_at(s, b, h, s.steps, s.value_dim);
      const float *p = probabilities + pair * plane;
      const float *factors = kept ? kept + pair * plane : nullptr;
      const float *used = p;
      if (factors) {
        multiply(p, factors, dropped, plane);
        used = dropped;
      }
      // v's gradient: usedᵀ·dy; the probabilities': dy·vᵀ, then back through dropout and the softmax.
      gemm(CblasTrans, CblasNoTrans, s.sources, s.value_dim, s.steps, used, s.sources, dy + outputs, ldv, dv + values,
           ldv);
      gemm(CblasNoTrans, CblasTrans, s.steps, s.sources, s.value_dim, dy + outputs, ldv, v + values, ldv, dp,
           s.sources);
      if (factors) multiply(dp, factors, dp, plane);
      softmax_backward(p, dp, ok, s.steps, s.sources, s.scale);
      gemm(CblasNoTrans, CblasNoTrans, s.steps, s.key_dim, s.sources, dp, s.sources, k + keys, ldk, dq + queries, ldk);
      gemm(CblasTrans, CblasNoTrans, s.sources, s.key_dim, s.steps, dp, s.sources, q + queries, ldk, dk + keys, ldk);
    }
  }
}
}  // namespace bw
