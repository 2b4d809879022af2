// Keras' LayerNormalization over the last axis (bigwrap.nn.LayerNorm), a row of `size` values at a time: the
// row's mean and spread by vectorised reductions (lanes.h), then one pass each way. In the JVM the same loops
// ran at a third of this speed once compiled, and far slower before: a Transformer fit's first hundreds of
// iterations spent more time in LayerNorm than in its matrix products.
#include <cmath>

#include "kernels.h"
#include "lanes.h"

namespace bw {

__attribute__((target_clones("avx512f", "avx2", "default")))
void layer_norm_forward(const float *x, const float *gamma, const float *beta, float *y, float *normalized,
                        float *inv_std, int rows, int size, double epsilon) {
  for (int r = 0; r < rows; ++r) {
    const size_t base = static_cast<size_t>(r) * size;
    const float *xr = x + base;
    float *nr = normalized + base, *yr = y + base;
    const float mean = lane_sum(xr, nullptr, size) / size;
    // the variance in float, as Keras and PyTorch sum it; ε added and the root taken in double
    const float inv = static_cast<float>(1.0 / std::sqrt(lane_squared_deviations(xr, mean, size) / size + epsilon));
    inv_std[r] = inv;
    for (int i = 0; i < size; ++i) nr[i] = (xr[i] - mean) * inv;
    for (int i = 0; i < size; ++i) yr[i] = nr[i] * gamma[i] + beta[i];
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void layer_norm_grad_input(const float *dy, const float *gamma, const float *normalized, const float *inv_std,
                           float *dx, int rows, int size, float *scratch) {
  for (int r = 0; r < rows; ++r) {
    const size_t base = static_cast<size_t>(r) * size;
    const float *dyr = dy + base, *nr = normalized + base;
    float *dxr = dx + base;
    for (int i = 0; i < size; ++i) scratch[i] = dyr[i] * gamma[i];
    const float mean_gradient = lane_sum(scratch, nullptr, size) / size;
    const float mean_dot = lane_sum(scratch, nr, size) / size;
    const float inv = inv_std[r];
    for (int i = 0; i < size; ++i) dxr[i] = inv * (scratch[i] - mean_gradient - nr[i] * mean_dot);
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void layer_norm_grad_params(const float *dy, const float *normalized, float *grad_gamma, float *grad_beta, int rows,
                            int size, float scale_gamma, float scale_beta) {
  for (int r = 0; r < rows; ++r) {
    const size_t base = static_cast<size_t>(r) * size;
    for (int i = 0; i < size; ++i) {
      grad_gamma[i] += scale_gamma * dy[base + i] * normalized[base + i];
      grad_beta[i] += scale_beta * dy[base + i];
    }
  }
}
}  // namespace bw
