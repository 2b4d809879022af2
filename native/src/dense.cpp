// Fully connected layer: MKL's GEMM (sequential: MKL cannot thread here, native/README.md) in fp32
// (cblas_sgemm) or bf16 inputs with fp32 accumulation (cblas_gemm_bf16bf16f32, AMX tiles where the CPU has
// them), or oneDNN's matmul (matmul.cpp). Which one runs is chosen per layer shape, precision and thread
// count by timing both once in this process (gemm "auto"), or forced (set_gemm). Bias and activation are
// applied by the same call while the GEMM's output is still in cache.
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include <mkl.h>

#include "kernels.h"
#include "timing.h"

namespace bw {
namespace {
// bf16 copies of activations, per thread (a Spark task's thread runs one layer at a time).
thread_local std::vector<uint16_t> scratch_a, scratch_b;

uint16_t *bf16_copy(std::vector<uint16_t> &buffer, const float *from, size_t n) {
  if (buffer.size() < n) buffer.resize(n);
  to_bf16(from, buffer.data(), n);
  return buffer.data();
}

void mkl_forward(const float *x, const float *w, uint16_t *w16, const float *bias, float *y, int batch, int in,
                 int out, int act, bool bf16) {
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

void mkl_grad_input(const float *dz, const uint16_t *w16, const float *w, float *dx, int batch, int in, int out,
                    bool bf16) {
  if (bf16) {
    const uint16_t *dz16 = bf16_copy(scratch_a, dz, static_cast<size_t>(batch) * out);
    cblas_gemm_bf16bf16f32(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, in, out, 1.f, dz16, out, w16, in, 0.f,
                           dx, in);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, in, out, 1.f, dz, out, w, in, 0.f, dx, in);
  }
}

void mkl_grad_weight(const float *x, const float *dz, float *gw, int batch, int in, int out, float scale_w,
                     bool accumulate, bool bf16) {
  const float beta = accumulate ? 1.f : 0.f;
  if (bf16) {
    const uint16_t *dz16 = bf16_copy(scratch_a, dz, static_cast<size_t>(batch) * out);
    const uint16_t *x16 = bf16_copy(scratch_b, x, static_cast<size_t>(batch) * in);
    cblas_gemm_bf16bf16f32(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, batch, scale_w, dz16, out, x16, in, beta,
                           gw, in);
  } else {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, batch, scale_w, dz, out, x, in, beta, gw, in);
  }
}

std::atomic<int> gemm_mode{kGemmAuto};

using Shape = std::tuple<int, int, int, bool, int>;  // batch, in, out, bf16, threads

// Seconds of forward + both backward GEMMs of one layer shape on `backend` (best_seconds).
double layer_seconds(int backend, int batch, int in, int out, bool bf16) {
  std::vector<float> x(static_cast<size_t>(batch) * in, 0.5f), w(static_cast<size_t>(out) * in, 0.25f),
      y(static_cast<size_t>(batch) * out), dx(x.size()), gw(w.size());
  std::vector<uint16_t> w16(w.size());
  return best_seconds([&] {
    if (backend == kGemmOnednn) {
      onednn_dense_forward(x.data(), w.data(), nullptr, y.data(), batch, in, out, kLinear, bf16);
      onednn_dense_grad_input(y.data(), w.data(), dx.data(), batch, in, out, bf16);
      onednn_dense_grad_weight(x.data(), y.data(), gw.data(), batch, in, out, 1.f, false, bf16);
    } else {
      mkl_forward(x.data(), w.data(), w16.data(), nullptr, y.data(), batch, in, out, kLinear, bf16);
      mkl_grad_input(y.data(), w16.data(), w.data(), dx.data(), batch, in, out, bf16);
      mkl_grad_weight(x.data(), y.data(), gw.data(), batch, in, out, 1.f, false, bf16);
    }
  });
}

// oneDNN or MKL for this layer shape, the measured faster one under "auto" (decided once per process).
bool onednn_for(int batch, int in, int out, bool bf16) {
  const int mode = gemm_mode.load();
  if (mode != kGemmAuto) return mode == kGemmOnednn;
  static std::mutex lock;
  static std::map<Shape, bool> chosen;
  const Shape shape{batch, in, out, bf16, threads()};
  {
    std::lock_guard<std::mutex> guard(lock);
    auto found = chosen.find(shape);
    if (found != chosen.end()) return found->second;
  }
  const bool onednn = layer_seconds(kGemmOnednn, batch, in, out, bf16) < layer_seconds(kGemmMkl, batch, in, out, bf16);
  std::lock_guard<std::mutex> guard(lock);
  return chosen.emplace(shape, onednn).first->second;  // a concurrent first measurement wins
}
}  // namespace

void set_gemm(int mode) { gemm_mode = mode; }

const char *gemm_backend(int batch, int in, int out, bool bf16) {
  return onednn_for(batch, in, out, bf16) ? "onednn" : "mkl";
}

void dense_forward(const float *x, const float *w, uint16_t *w16, const float *bias, float *y, int batch, int in,
                   int out, int act, bool bf16) {
  use_threads();
  if (onednn_for(batch, in, out, bf16)) {
    onednn_dense_forward(x, w, bias, y, batch, in, out, act, bf16);
  } else {
    mkl_forward(x, w, w16, bias, y, batch, in, out, act, bf16);
  }
}

void dense_grad_input(const float *dz, const float *w, const uint16_t *w16, float *dx, int batch, int in, int out,
                      bool bf16) {
  use_threads();
  if (onednn_for(batch, in, out, bf16)) {
    onednn_dense_grad_input(dz, w, dx, batch, in, out, bf16);
  } else {
    mkl_grad_input(dz, w16, w, dx, batch, in, out, bf16);
  }
}

void dense_grad_params(const float *x, const float *dz, float *gw, float *gb, int batch, int in, int out,
                       float scale_w, float scale_b, bool accumulate, bool bf16) {
  use_threads();
  if (onednn_for(batch, in, out, bf16)) {
    onednn_dense_grad_weight(x, dz, gw, batch, in, out, scale_w, accumulate, bf16);
  } else {
    mkl_grad_weight(x, dz, gw, batch, in, out, scale_w, accumulate, bf16);
  }
  if (gb) {
    if (!accumulate) std::fill(gb, gb + out, 0.f);
    for (int r = 0; r < batch; ++r) {
      const float *row = dz + static_cast<size_t>(r) * out;
      for (int j = 0; j < out; ++j) gb[j] += scale_b * row[j];
    }
  }
}

}  // namespace bw
