// bigwrap native kernels: plain-pointer C++ API under the JNI layer (jni.cpp).
// Layouts are the ones BigDL keeps, so the JVM passes its tensors' storage as is:
//   Dense: x (batch, in), weight (out, in) as BigDL's Linear, bias (out), y (batch, out), all row-major.
//   Conv2D: x NHWC, weight (kh, kw, in, out) ("hwio", BigDL's NHWC convolution and Keras), y NHWC.
// Threads: every kernel runs on the calling thread's count (set_threads), 1 by default (a Spark task that
// owns one core). oneDNN threads through the libiomp5 BigDL already loaded; MKL runs sequential, because MKL
// 2026's threading layer needs OpenMP 5.1 entry points that BigDL's 2018 libiomp5 lacks, and loading a
// second libiomp5 is what must not happen (native/README.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace bw {

// Activations fused into the layer: forward applied to the GEMM/convolution output, backward taken
// from that output (so the pre-activation never needs storing). Codes shared with NativeKernels.scala.
enum Activation : int { kLinear = 0, kRelu = 1, kSigmoid = 2, kTanh = 3 };

// Once, when the JVM loads the library: MKL's LP64 interface, sequential threading layer.
void init();
void set_threads(int threads);
int threads();
// Applies the calling thread's thread count to OpenMP (oneDNN) before a kernel runs.
void use_threads();

bool bf16_supported();  // AVX512-BF16 or AMX-BF16: MKL / oneDNN run bf16 maths in hardware
std::string info_json(const std::string &library_path);

// f32 → bf16 with round-to-nearest-even.
void to_bf16(const float *from, uint16_t *to, size_t n);
// y = act(y + bias) over rows of `cols` values; bias may be null.
void bias_activation(float *y, const float *bias, size_t rows, size_t cols, int act);
// dz = dy * act'(y), from the activation's output y.
void activation_backward(const float *y, const float *dy, float *dz, size_t n, int act);

// -- Dense: MKL GEMM or oneDNN matmul (dense.cpp chooses). `w16` is the caller's buffer of out*in bf16 values
// (bf16 only): filled from `w` by dense_forward, read by dense_grad_input on MKL. --
enum Gemm : int { kGemmAuto = 0, kGemmMkl = 1, kGemmOnednn = 2 };
// Process-wide: auto (each layer shape on the backend measured faster here) or one backend forced.
void set_gemm(int mode);
// "mkl" or "onednn": what a Dense of this shape runs on the calling thread's thread count (measures under auto).
const char *gemm_backend(int batch, int in, int out, bool bf16);
void dense_forward(const float *x, const float *w, uint16_t *w16, const float *bias, float *y, int batch, int in,
                   int out, int act, bool bf16);
void dense_grad_input(const float *dz, const float *w, const uint16_t *w16, float *dx, int batch, int in, int out,
                      bool bf16);
// gw += scale_w * dzᵀ·x; gb += scale_b * column sums of dz (gb may be null). Without `accumulate`, = in place of
// += (what was in gw and gb is never read).
void dense_grad_params(const float *x, const float *dz, float *gw, float *gb, int batch, int in, int out,
                       float scale_w, float scale_b, bool accumulate, bool bf16);

// oneDNN matmul versions of the three (matmul.cpp); dense_grad_params adds the bias gradient.
void onednn_dense_forward(const float *x, const float *w, const float *bias, float *y, int batch, int in, int out,
                          int act, bool bf16);
void onednn_dense_grad_input(const float *dz, const float *w, float *dx, int batch, int in, int out, bool bf16);
void onednn_dense_grad_weight(const float *x, const float *dz, float *gw, int batch, int in, int out, float scale_w,
                              bool accumulate, bool bf16);

// -- Conv2D (oneDNN) --
struct ConvShape {
  int n, h, w, c, f, kh, kw, sh, sw, pad_top, pad_left, pad_bottom, pad_right, oh, ow;
};
// How backward data declares the input's gradient (conv.cpp says why): auto (per shape, the one measured faster
// here), NHWC, or "any" (oneDNN's choice, reordered into NHWC when it is another). Process-wide.
enum ConvLayout : int { kConvLayoutAuto = 0, kConvLayoutNhwc = 1, kConvLayoutAny = 2 };
void set_conv_layout(int mode);
// The weight gradient of stride-1 convolutions over at most kDirectConvMaxChannels input channels, fp32: auto (per
// shape, oneDNN or the direct kernel below, whichever is measured faster here), oneDNN, or direct.
enum ConvDirect : int { kConvDirectAuto = 0, kConvDirectNever = 1, kConvDirectAlways = 2 };
void set_conv_direct(int mode);
constexpr int kDirectConvMaxChannels = 4;
// The direct kernel (conv_direct.cpp), for shapes direct_conv_fits accepts; conv_grad_params' contract in fp32.
bool direct_conv_fits(const ConvShape &s);
void direct_conv_grad_params(const ConvShape &s, const float *x, const float *dz, float *gw, float *gb, float scale_w,
                             float scale_b);
void conv_forward(const ConvShape &s, const float *x, const float *w, const float *bias, float *y, int act,
                  bool bf16);
void conv_grad_input(const ConvShape &s, const float *dz, const float *w, float *dx, bool bf16);
// gw += scale_w * dL/dw; gb += scale_b * dL/db (gb may be null).
void conv_grad_params(const ConvShape &s, const float *x, const float *dz, float *gw, float *gb, float scale_w,
                      float scale_b, bool bf16);

// -- Multi-head attention's core (attention.cpp), fp32: per batch row and head, softmax(mask(q·kᵀ·scale))·v.
// q (batch, steps, heads·key_dim), k (batch, sources, heads·key_dim), v (batch, sources, heads·value_dim), y and dy
// (batch, steps, heads·value_dim); allowed (batch, steps, sources): 1 where a query may attend to a source;
// probabilities (batch, heads, steps, sources): written by the forward pass (before dropout), read by backward;
// kept: the dropout factors in that layout, or null. Every output value is written (no accumulation). --
struct AttentionShape {
  int batch, steps, sources, heads, key_dim, value_dim;
  float scale;
};
void attention_forward(const AttentionShape &s, const float *q, const float *k, const float *v, const uint8_t *allowed,
                       const float *kept, float *probabilities, float *y);
void attention_backward(const AttentionShape &s, const float *q, const float *k, const float *v,
                        const uint8_t *allowed, const float *kept, const float *probabilities, const float *dy,
                        float *dq, float *dk, float *dv);

// -- Max pooling over NHWC in training (pooling.cpp), fp32: y (n, oh, ow, c) and, per output value, the index
// within x of the cell its maximum came from (the first in row-major order on ties). Windows start at
// (oh·sh − top, ow·sw − left) and are clipped to the image. --
struct PoolShape {
  int n, h, w, c, ph, pw, sh, sw, top, left, oh, ow;
};
void max_pool_tracked(const PoolShape &s, const float *x, float *y, int32_t *sources);

// -- Layer normalisation over rows of `size` values (layer_norm.cpp), fp32 --
// y = (x − mean)·inv_std·gamma + beta per row; `normalized` (rows × size) and `inv_std` (rows) kept for backward.
void layer_norm_forward(const float *x, const float *gamma, const float *beta, float *y, float *normalized,
                        float *inv_std, int rows, int size, double epsilon);
// dx = inv_std·(g − mean(g) − normalized·mean(g·normalized)) with g = dy·gamma; `scratch` holds `size` floats.
void layer_norm_grad_input(const float *dy, const float *gamma, const float *normalized, const float *inv_std,
                           float *dx, int rows, int size, float *scratch);
// grad_gamma += scale_gamma·Σ_rows dy·normalized; grad_beta += scale_beta·Σ_rows dy.
void layer_norm_grad_params(const float *dy, const float *normalized, float *grad_gamma, float *grad_beta, int rows,
                            int size, float scale_gamma, float scale_beta);

// -- Optimizer steps over one parameter slice (optim.cpp) --
// The slice's gradient, value i: Σ_k scales[k]·arrays[k][i] (each task's gradient, weighted by its share of the
// iteration's rows), clipped to ±bound.
struct GradientParts {
  const float *const *arrays;
  const float *scales;
  int count;
};
// SGD: g += decay·w; with `velocity` (momentum): v = momentum·v + g, w += rate·v (Nesterov: w += rate·(g +
// momentum·v)); without: w += rate·g. `rate` is the negated learning rate.
void sgd_step(const GradientParts &parts, float *w, float *velocity, size_t n, float bound, float rate, float decay,
              float momentum, bool nesterov);
// Adam in BigDL's form (bias corrections folded into `step`, negative): m, v moments;
// w = w·shrink + step·m/(√v + ε) (`shrink` = 1 − lr·weight_decay for AdamW, else 1).
void adam_step(const GradientParts &parts, float *w, float *m, float *v, size_t n, float bound, float shrink,
               float step, float beta1, float beta2, float epsilon);

}  // namespace bw
