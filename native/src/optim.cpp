// The barrier trainer's optimizer steps over one task's parameter slice, in one vectorised pass: the summed
// gradient is averaged over the rows and clipped, then applied by the rule (bigwrap.train.FusedSteps says why).
#include <cmath>

#include "kernels.h"

namespace bw {
namespace {
// Clips to ±bound; a NaN stays NaN (fminf/fmaxf would hide it behind the bound).
inline float averaged(float sum, float rows, float bound) {
  const float g = sum / rows;
  return g > bound ? bound : (g < -bound ? -bound : g);
}
}  // namespace

__attribute__((target_clones("avx512f", "avx2", "default")))
void sgd_step(const float *__restrict sum, float *__restrict w, float *__restrict velocity, size_t n, float rows,
              float bound, float rate, float decay, float momentum, bool nesterov) {
  if (!velocity) {
    for (size_t i = 0; i < n; ++i) w[i] += rate * (averaged(sum[i], rows, bound) + decay * w[i]);
  } else if (nesterov) {
    for (size_t i = 0; i < n; ++i) {
      const float g = averaged(sum[i], rows, bound) + decay * w[i];
      const float v = velocity[i] * momentum + g;
      velocity[i] = v;
      w[i] += rate * (g + momentum * v);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      const float v = velocity[i] * momentum + (averaged(sum[i], rows, bound) + decay * w[i]);
      velocity[i] = v;
      w[i] += rate * v;
    }
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void adam_step(const float *__restrict sum, float *__restrict w, float *__restrict m, float *__restrict v, size_t n,
               float rows, float bound, float shrink, float step, float beta1, float beta2, float epsilon) {
  const float c1 = 1.f - beta1, c2 = 1.f - beta2;
  for (size_t i = 0; i < n; ++i) {
    const float g = averaged(sum[i], rows, bound);
    const float mi = m[i] * beta1 + c1 * g;
    const float vi = v[i] * beta2 + c2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] * shrink + step * mi / (std::sqrt(vi) + epsilon);
  }
}
}  // namespace bw
