// 2-D convolution on oneDNN v3: forward (bias and activation as post-ops), backward data, backward weights.
// Activations stay NHWC f32 (bf16: converted to bf16 on the way in, results f32); weights are reordered from
// the caller's hwio f32 into whatever layout oneDNN's fastest implementation wants (AMX tiles for bf16).
// Primitives are cached per thread and shape: a task trains one model, so a handful of entries per thread.
#include <array>
#include <map>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "kernels.h"
#include "onednn.h"

namespace bw {
namespace {
using dnnl::algorithm;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

struct Descs {
  memory::desc src, weights_any, user_weights, bias, dst;
  memory::dims strides, pad_l, pad_r;
};

Descs descs(const ConvShape &s, bool bf16, bool has_bias) {
  const dt low = bf16 ? dt::bf16 : dt::f32;
  return {memory::desc({s.n, s.c, s.h, s.w}, low, tag::nhwc),
          memory::desc({s.f, s.c, s.kh, s.kw}, low, tag::any),
          memory::desc({s.f, s.c, s.kh, s.kw}, dt::f32, tag::hwio),
          has_bias ? memory::desc({s.f}, dt::f32, tag::a) : memory::desc(),
          memory::desc({s.n, s.f, s.oh, s.ow}, dt::f32, tag::nhwc),
          {s.sh, s.sw}, {s.pad_top, s.pad_left}, {s.pad_bottom, s.pad_right}};
}

dnnl::convolution_forward::primitive_desc forward_pd(const ConvShape &s, bool bf16, bool has_bias, int act) {
  const Descs d = descs(s, bf16, has_bias);
  dnnl::primitive_attr attr;
  if (act != kLinear) {
    dnnl::post_ops ops;
    const algorithm kind = act == kRelu ? algorithm::eltwise_relu
                           : act == kSigmoid ? algorithm::eltwise_logistic : algorithm::eltwise_tanh;
    ops.append_eltwise(kind, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  return {onednn_engine(), dnnl::prop_kind::forward_training, algorithm::convolution_direct, d.src, d.weights_any,
          d.bias,
          d.dst, d.strides, d.pad_l, d.pad_r, attr};
}

// The primitives of one (operation, shape, precision): the convolution and the weight reorder around it.
struct Entry {
  dnnl::primitive conv;
  memory::desc weights;  // the layout the convolution uses for weights (or their gradient)
  dnnl::reorder weight_reorder;
};

enum Op { kForward, kGradInput, kGradParams };
using Key = std::array<int, 20>;

// oneDNN sizes a primitive's work split for the thread count in force when it is created.
Key key(const ConvShape &s, Op op, bool bf16, bool has_bias, int act) {
  return {op, bf16, has_bias, act, threads(), s.n, s.h, s.w, s.c, s.f, s.kh, s.kw, s.sh, s.sw,
          s.pad_top, s.pad_left, s.pad_bottom, s.pad_right, s.oh, s.ow};
}

Entry make(const ConvShape &s, Op op, bool bf16, bool has_bias, int act) {
  const Descs d = descs(s, bf16, has_bias);
  auto fwd = forward_pd(s, bf16, has_bias, act);
  Entry e;
  if (op == kForward) {
    e.conv = dnnl::convolution_forward(fwd);
    e.weights = fwd.weights_desc();
    e.weight_reorder = dnnl::reorder(
        dnnl::reorder::primitive_desc(onednn_engine(), d.user_weights, onednn_engine(), e.weights));
  } else if (op == kGradInput) {
    const memory::desc diff_src({s.n, s.c, s.h, s.w}, dt::f32, tag::nhwc);
    const memory::desc diff_dst({s.n, s.f, s.oh, s.ow}, bf16 ? dt::bf16 : dt::f32, tag::nhwc);
    dnnl::convolution_backward_data::primitive_desc pd(onednn_engine(), algorithm::convolution_direct, diff_src,
                                                       d.weights_any, diff_dst, d.strides, d.pad_l, d.pad_r, fwd);
    e.conv = dnnl::convolution_backward_data(pd);
    e.weights = pd.weights_desc();
    e.weight_reorder = dnnl::reorder(
        dnnl::reorder::primitive_desc(onednn_engine(), d.user_weights, onednn_engine(), e.weights));
  } else {
    const memory::desc diff_weights({s.f, s.c, s.kh, s.kw}, dt::f32, tag::any);
    const memory::desc diff_dst({s.n, s.f, s.oh, s.ow}, bf16 ? dt::bf16 : dt::f32, tag::nhwc);
    dnnl::convolution_backward_weights::primitive_desc pd(onednn_engine(), algorithm::convolution_direct, d.src,
                                                          diff_weights,
                                                          d.bias, diff_dst, d.strides, d.pad_l, d.pad_r, fwd);
    e.conv = dnnl::convolution_backward_weights(pd);
    e.weights = pd.diff_weights_desc();
    e.weight_reorder = dnnl::reorder(
        dnnl::reorder::primitive_desc(onednn_engine(), e.weights, onednn_engine(), d.user_weights));
  }
  return e;
}

const Entry &cached(const ConvShape &s, Op op, bool bf16, bool has_bias, int act) {
  // A training task sees two batch sizes (full and last); inference a few more. The bound only keeps a
  // long-lived executor that runs many models from growing without limit.
  constexpr size_t kMaxEntries = 256;
  thread_local std::map<Key, Entry> entries;
  const Key k = key(s, op, bf16, has_bias, act);
  auto found = entries.find(k);
  if (found == entries.end()) {
    if (entries.size() >= kMaxEntries) entries.clear();
    found = entries.emplace(k, make(s, op, bf16, has_bias, act)).first;
  }
  return found->second;
}

// Per-thread buffers: bf16 activations (two: backward weights reads both its inputs), reordered weights,
// f32 gradients before accumulation.
thread_local std::vector<uint16_t> act16_a, act16_b;
thread_local std::vector<char> weight_buffer;
thread_local std::vector<float> grad_buffer;

memory reordered_weights(const Entry &e, const float *w, const ConvShape &s) {
  if (weight_buffer.size() < e.weights.get_size()) weight_buffer.resize(e.weights.get_size());
  memory user({{s.f, s.c, s.kh, s.kw}, dt::f32, tag::hwio}, onednn_engine(), const_cast<float *>(w));
  memory packed(e.weights, onednn_engine(), weight_buffer.data());
  e.weight_reorder.execute(onednn_stream(), user, packed);
  return packed;
}

size_t count(std::initializer_list<int> dims) {
  size_t n = 1;
  for (int d : dims) n *= static_cast<size_t>(d);
  return n;
}
}  // namespace

void conv_forward(const ConvShape &s, const float *x, const float *w, const float *bias, float *y, int act,
                  bool bf16) {
  use_threads();
  const Entry &e = cached(s, kForward, bf16, bias != nullptr, act);
  const Descs d = descs(s, bf16, bias != nullptr);
  memory src(d.src, onednn_engine(), activation_operand(x, count({s.n, s.h, s.w, s.c}), bf16, act16_a));
  memory dst(d.dst, onednn_engine(), y);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, reordered_weights(e, w, s)},
                                       {DNNL_ARG_DST, dst}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(d.bias, onednn_engine(), const_cast<float *>(bias)));
  e.conv.execute(onednn_stream(), args);
  onednn_stream().wait();
}

void conv_grad_input(const ConvShape &s, const float *dz, const float *w, float *dx, bool bf16) {
  use_threads();
  const Entry &e = cached(s, kGradInput, bf16, false, kLinear);
  memory diff_dst({{s.n, s.f, s.oh, s.ow}, bf16 ? dt::bf16 : dt::f32, tag::nhwc}, onednn_engine(),
                  activation_operand(dz, count({s.n, s.oh, s.ow, s.f}), bf16, act16_a));
  memory diff_src({{s.n, s.c, s.h, s.w}, dt::f32, tag::nhwc}, onednn_engine(), dx);
  e.conv.execute(onednn_stream(), {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, reordered_weights(e, w, s)},
                            {DNNL_ARG_DIFF_SRC, diff_src}});
  onednn_stream().wait();
}

void conv_grad_params(const ConvShape &s, const float *x, const float *dz, float *gw, float *gb, float scale_w,
                      float scale_b, bool bf16) {
  use_threads();
  const bool has_bias = gb != nullptr;
  const Entry &e = cached(s, kGradParams, bf16, has_bias, kLinear);
  const Descs d = descs(s, bf16, has_bias);
  const size_t weight_n = count({s.kh, s.kw, s.c, s.f});
  memory src(d.src, onednn_engine(), activation_operand(x, count({s.n, s.h, s.w, s.c}), bf16, act16_a));
  memory diff_dst({{s.n, s.f, s.oh, s.ow}, bf16 ? dt::bf16 : dt::f32, tag::nhwc}, onednn_engine(),
                  activation_operand(dz, count({s.n, s.oh, s.ow, s.f}), bf16, act16_b));
  if (weight_buffer.size() < e.weights.get_size()) weight_buffer.resize(e.weights.get_size());
  if (grad_buffer.size() < weight_n + s.f) grad_buffer.resize(weight_n + s.f);
  memory diff_weights(e.weights, onednn_engine(), weight_buffer.data());
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diff_dst},
                                       {DNNL_ARG_DIFF_WEIGHTS, diff_weights}};
  if (has_bias) args.emplace(DNNL_ARG_DIFF_BIAS, memory(d.bias, onednn_engine(), grad_buffer.data() + weight_n));
  e.conv.execute(onednn_stream(), args);
  memory user(d.user_weights, onednn_engine(), grad_buffer.data());
  e.weight_reorder.execute(onednn_stream(), diff_weights, user);
  onednn_stream().wait();
  for (size_t i = 0; i < weight_n; ++i) gw[i] += scale_w * grad_buffer[i];
  if (has_bias) {
    for (int j = 0; j < s.f; ++j) gb[j] += scale_b * grad_buffer[weight_n + j];
  }
}

}  // namespace bw
