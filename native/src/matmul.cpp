// Fully connected layer on oneDNN's matmul: the same three operations and layouts as dense.cpp's MKL path.
// oneDNN dispatches on instruction sets, not on the vendor: bf16 runs on AMX tiles (Intel) or AVX512-BF16
// (AMD Zen 4/5), where MKL's cblas_gemm_bf16bf16f32 uses AMX only. It also threads through the OpenMP runtime
// BigDL loaded, where MKL here is sequential (native/README.md). Primitives are cached per thread and shape.
#include <array>
#include <map>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "kernels.h"
#include "onednn.h"

namespace bw {
namespace {
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

enum MatOp { kForward, kGradInput, kGradParamsAdd, kGradParamsWrite };

struct MatEntry {
  dnnl::matmul matmul;
  memory::desc weights;  // what the primitive reads as its B operand
  dnnl::reorder weight_reorder;  // caller's f32 weight -> `weights` (bf16 only)
};

using MatKey = std::array<int, 7>;

// A: (m, k) in `a_tag`; B: (k, n) in `b_tag` (`any` lets oneDNN pick a packed layout: a weight reordered per
// call); C: (m, n) f32 ab. `scaled`: C = scale * A·B, plus C itself where `accumulate`.
dnnl::matmul::primitive_desc describe(int m, int k, int n, tag a_tag, tag b_tag, bool bf16, bool bias, int act,
                                      bool scaled, bool accumulate) {
  const dt low = bf16 ? dt::bf16 : dt::f32;
  dnnl::primitive_attr attr;
  dnnl::post_ops ops;
  if (scaled) attr.set_scales_mask(DNNL_ARG_SRC, 0);
  if (accumulate) ops.append_sum(1.f);
  if (act != kLinear) {
    ops.append_eltwise(act == kRelu ? dnnl::algorithm::eltwise_relu
                       : act == kSigmoid ? dnnl::algorithm::eltwise_logistic : dnnl::algorithm::eltwise_tanh,
                       0.f, 0.f);
  }
  attr.set_post_ops(ops);
  return {onednn_engine(), memory::desc({m, k}, low, a_tag), memory::desc({k, n}, low, b_tag),
          bias ? memory::desc({1, n}, dt::f32, tag::ab) : memory::desc(), memory::desc({m, n}, dt::f32, tag::ab),
          attr};
}

MatEntry make(MatOp op, int batch, int in, int out, bool bf16, bool bias, int act) {
  MatEntry e;
  tag user_b;
  dnnl::matmul::primitive_desc pd;
  // bf16 weights are converted per call anyway, so into the layout the primitive likes best
  const auto weight_tag = [bf16](tag user) { return bf16 ? tag::any : user; };
  if (op == kForward) {  // y = x·Wᵀ: B is W (out, in) read as (in, out)
    user_b = tag::ba;
    pd = describe(batch, in, out, tag::ab, weight_tag(user_b), bf16, bias, act, false, false);
  } else if (op == kGradInput) {  // dx = dz·W
    user_b = tag::ab;
    pd = describe(batch, out, in, tag::ab, weight_tag(user_b), bf16, false, kLinear, false, false);
  } else {  // gw (+)= scale·dzᵀ·x: A is dz (batch, out) read as (out, batch); B is x, an activation as it is
    user_b = tag::ab;
    pd = describe(out, batch, in, tag::ba, user_b, bf16, false, kLinear, true, op == kGradParamsAdd);
  }
  e.matmul = dnnl::matmul(pd);
  e.weights = pd.weights_desc();
  if (bf16 && (op == kForward || op == kGradInput)) {
    const memory::desc user(e.weights.get_dims(), dt::f32, user_b);
    e.weight_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(onednn_engine(), user, onednn_engine(), e.weights));
  }
  return e;
}

const MatEntry &cached(MatOp op, int batch, int in, int out, bool bf16, bool bias, int act) {
  constexpr size_t kMaxEntries = 256;  // as conv.cpp: bounds a long-lived executor running many models
  thread_local std::map<MatKey, MatEntry> entries;
  const MatKey key{op, batch, in, out, bf16, bias * 8 + act, threads()};
  auto found = entries.find(key);
  if (found == entries.end()) {
    if (entries.size() >= kMaxEntries) entries.clear();
    found = entries.emplace(key, make(op, batch, in, out, bf16, bias, act)).first;
  }
  return found->second;
}

thread_local std::vector<uint16_t> act16_a, act16_b;
thread_local std::vector<char> packed_weights;

// The B operand from the caller's f32 weight: as is (fp32), or reordered into bf16 in the primitive's layout.
memory weight_operand(const MatEntry &e, const float *w, tag user_b, bool bf16) {
  if (!bf16) return memory(e.weights, onednn_engine(), const_cast<float *>(w));
  if (packed_weights.size() < e.weights.get_size()) packed_weights.resize(e.weights.get_size());
  memory user({e.weights.get_dims(), dt::f32, user_b}, onednn_engine(), const_cast<float *>(w));
  memory packed(e.weights, onednn_engine(), packed_weights.data());
  e.weight_reorder.execute(onednn_stream(), user, packed);
  return packed;
}
}  // namespace

void onednn_dense_forward(const float *x, const float *w, const float *bias, float *y, int batch, int in, int out,
                          int act, bool bf16) {
  use_threads();
  const MatEntry &e = cached(kForward, batch, in, out, bf16, bias != nullptr, act);
  const dt low = bf16 ? dt::bf16 : dt::f32;
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, memory({{batch, in}, low, tag::ab}, onednn_engine(),
                            activation_operand(x, static_cast<size_t>(batch) * in, bf16, act16_a))},
      {DNNL_ARG_WEIGHTS, weight_operand(e, w, tag::ba, bf16)},
      {DNNL_ARG_DST, memory({{batch, out}, dt::f32, tag::ab}, onednn_engine(), y)}};
  if (bias) {
    args.emplace(DNNL_ARG_BIAS, memory({{1, out}, dt::f32, tag::ab}, onednn_engine(), const_cast<float *>(bias)));
  }
  e.matmul.execute(onednn_stream(), args);
  onednn_stream().wait();
}

void onednn_dense_grad_input(const float *dz, const float *w, float *dx, int batch, int in, int out, bool bf16) {
  use_threads();
  const MatEntry &e = cached(kGradInput, batch, in, out, bf16, false, kLinear);
  const dt low = bf16 ? dt::bf16 : dt::f32;
  e.matmul.execute(onednn_stream(), {
      {DNNL_ARG_SRC, memory({{batch, out}, low, tag::ab}, onednn_engine(),
                            activation_operand(dz, static_cast<size_t>(batch) * out, bf16, act16_a))},
      {DNNL_ARG_WEIGHTS, weight_operand(e, w, tag::ab, bf16)},
      {DNNL_ARG_DST, memory({{batch, in}, dt::f32, tag::ab}, onednn_engine(), dx)}});
  onednn_stream().wait();
}

void onednn_dense_grad_weight(const float *x, const float *dz, float *gw, int batch, int in, int out, float scale_w,
                              bool accumulate, bool bf16) {
  use_threads();
  const MatEntry &e = cached(accumulate ? kGradParamsAdd : kGradParamsWrite, batch, in, out, bf16, false, kLinear);
  const dt low = bf16 ? dt::bf16 : dt::f32;
  float scale = scale_w;
  e.matmul.execute(onednn_stream(), {
      {DNNL_ARG_SRC, memory({{out, batch}, low, tag::ba}, onednn_engine(),
                            activation_operand(dz, static_cast<size_t>(batch) * out, bf16, act16_a))},
      {DNNL_ARG_WEIGHTS, memory({{batch, in}, low, tag::ab}, onednn_engine(),
                                activation_operand(x, static_cast<size_t>(batch) * in, bf16, act16_b))},
      {DNNL_ARG_DST, memory({{out, in}, dt::f32, tag::ab}, onednn_engine(), gw)},
      {DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, memory({{1}, dt::f32, tag::a}, onednn_engine(), &scale)}});
  onednn_stream().wait();
}

}  // namespace bw
