// The barrier trainer's optimizer steps over one task's parameter slice, in one vectorised pass: the slice's
// gradient is summed from its parts (each task's per-row-mean gradient weighted by its share of the rows), clipped,
// then applied by the rule (bigwrap.train.FusedSteps says why). The pass goes block by block, so each block of
// the summed gradient is made and used while it sits in L1, and no array of the sum is ever written.
#include <algorithm>
#include <cmath>

#include "kernels.h"

namespace bw {
namespace {
constexpr size_t kBlock = 1024;

// g[0, m) = Σ_k scales[k]·parts[k][base, base + m), each clipped to ±bound; a NaN stays NaN (fminf/fmaxf would
// hide it behind the bound).
__attribute__((always_inline)) inline void summed(const GradientParts &parts, size_t base, size_t m, float bound,
                                                  float *__restrict g) {
  const float *first = parts.arrays[0] + base;
  const float s0 = parts.scales[0];
  for (size_t i = 0; i < m; ++i) g[i] = s0 * first[i];
  for (int k = 1; k < parts.count; ++k) {
    const float *part = parts.arrays[k] + base;
    const float s = parts.scales[k];
    for (size_t i = 0; i < m; ++i) g[i] += s * part[i];
  }
  for (size_t i = 0; i < m; ++i) g[i] = g[i] > bound ? bound : (g[i] < -bound ? -bound : g[i]);
}
}  // namespace

__attribute__((target_clones("avx512f", "avx2", "default")))
void sgd_step(const GradientParts &parts, float *__restrict w, float *__restrict velocity, size_t n, float bound,
              float rate, float decay, float momentum, bool nesterov) {
  alignas(64) float g[kBlock];
  for (size_t base = 0; base < n; base += kBlock) {
    const size_t m = std::min(kBlock, n - base);
    summed(parts, base, m, bound, g);
    float *__restrict wb = w + base;
    if (!velocity) {
      for (size_t i = 0; i < m; ++i) wb[i] += rate * (g[i] + decay * wb[i]);
      continue;
    }
    float *__restrict vb = velocity + base;
    if (nesterov) {
      for (size_t i = 0; i < m; ++i) {
        const float gi = g[i] + decay * wb[i];
        const float v = vb[i] * momentum + gi;
        vb[i] = v;
        wb[i] += rate * (gi + momentum * v);
      }
    } else {
      for (size_t i = 0; i < m; ++i) {
        const float v = vb[i] * momentum + (g[i] + decay * wb[i]);
        vb[i] = v;
        wb[i] += rate * v;
      }
    }
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void adam_step(const GradientParts &parts, float *__restrict w, float *__restrict m1, float *__restrict m2, size_t n,
               float bound, float shrink, float step, float beta1, float beta2, float epsilon) {
  const float c1 = 1.f - beta1, c2 = 1.f - beta2;
  alignas(64) float g[kBlock];
  for (size_t base = 0; base < n; base += kBlock) {
    const size_t m = std::min(kBlock, n - base);
    summed(parts, base, m, bound, g);
    float *__restrict wb = w + base, *__restrict mb = m1 + base, *__restrict vb = m2 + base;
    for (size_t i = 0; i < m; ++i) {
      const float mi = mb[i] * beta1 + c1 * g[i];
      const float vi = vb[i] * beta2 + c2 * (g[i] * g[i]);
      mb[i] = mi;
      vb[i] = vi;
      wb[i] = wb[i] * shrink + step * mi / (std::sqrt(vi) + epsilon);
    }
  }
}
}  // namespace bw
