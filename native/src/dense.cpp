// Fully connected layer on MKL's GEMM (sequential: one core per Spark task): fp32 (cblas_sgemm) or bf16
// inputs with fp32 accumulation (cblas_gemm_bf16bf16f32, AMX tiles where the CPU has them). Bias and
// activation are applied by the same call while the GEMM's output is still in cache.
#include <vector>

#include <mkl.h>

#include "kernels.h"

namespace bw {
namespace {
// bf16 copies of activations, per thread (a Spark task's thread runs one layer at a time).
thread_local std::vector<uint16_t> scratch_a, scratch_b;

uint16_t *bf16_copy(std::vector<uint16_t> &buffer, const float *from, size_t n) {
  if (buffer.size() < n) buffer.resize(n);
  to_bf16(from, buffer.data(), n);
  return buffer.data();
}
}  // namespace

void dense_forward(const float *x, const float *w, uint16_t *w16, const float *bias, float *y, int batch, int in,
                   int out, int act, bool bf16) {
  use_threads();
  if (bf16) {
    to_bf16(w, w16, static_cast<size_t>(out) * in);
    const uint16_t *x16 = bf16_copy(scratch_a, x, static_cast<size_t>(batch) * in);
    cblas_gemm_bf16bf16f32(CblasRowMajor, CblasNoTrans, CblasTrans, batch, out, in, 1.f, x16, in, w16, in, 0.f, y,
                           out);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, out, in, 1.f, x, in, w, in, 0.f, y, out);
  }
  bias_activation(y, bias, batch, out, act);
}

void dense_grad_input(const float *dz, const float *w, const uint16_t *w16, float *dx, int batch, int in, int out,
                      bool bf16) {
  use_threads();
  if (bf16) {
    const uint16_t *dz16 = bf16_copy(scratch_a, dz, static_cast<size_t>(batch) * out);
    cblas_gemm_bf16bf16f32(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, in, out, 1.f, dz16, out, w16, in, 0.f,
                           dx, in);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, in, out, 1.f, dz, out, w, in, 0.f, dx, in);
  }
}

void dense_grad_params(const float *x, const float *dz, float *gw, float *gb, int batch, int in, int out,
                       float scale_w, float scale_b, bool bf16) {
  use_threads();
  if (bf16) {
    const uint16_t *dz16 = bf16_copy(scratch_a, dz, static_cast<size_t>(batch) * out);
    const uint16_t *x16 = bf16_copy(scratch_b, x, static_cast<size_t>(batch) * in);
    cblas_gemm_bf16bf16f32(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, batch, scale_w, dz16, out, x16, in, 1.f,
                           gw, in);
  } else {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, batch, scale_w, dz, out, x, in, 1.f, gw, in);
  }
  if (gb) {
    for (int r = 0; r < batch; ++r) {
      const float *row = dz + static_cast<size_t>(r) * out;
      for (int j = 0; j < out; ++j) gb[j] += scale_b * row[j];
    }
  }
}

}  // namespace bw
