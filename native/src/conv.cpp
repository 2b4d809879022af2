// 2-D convolution on oneDNN v3: forward (bias and activation as post-ops), backward data, backward weights.
// Activations stay NHWC f32 (bf16: converted to bf16 on the way in, results f32); weights are reordered from
// the caller's hwio f32 into whatever layout oneDNN's fastest implementation wants (AMX tiles for bf16).
// Primitives are cached per thread and shape: a task trains one model, so a handful of entries per thread.
// Backward data declares the input's gradient either NHWC or "any" layout: oneDNN picks its implementation by the
// layouts it is given, and for NHWC it takes one that is slow with few input channels (LeNet-5's 6→16 convolution
// on AVX2: 1.43 ms), while "any" lets it take another (there 0.76 ms, writing NHWC itself; where it writes a
// blocked layout, one reorder into NHWC follows). Neither wins everywhere, so under "auto" each shape takes the
// one measured faster here. Stride-1 convolutions over few input channels may take their weight gradient from the
// direct kernel of conv_direct.cpp instead, again where measured faster per shape.
#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "kernels.h"
#include "onednn.h"
#include "timing.h"

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

// The primitives of one (operation, shape, precision): the convolution and the weight reorder around it, and for
// backward data that writes another layout than NHWC, the reorder of its result into NHWC.
struct Entry {
  dnnl::primitive conv;
  memory::desc weights;  // the layout the convolution uses for weights (or their gradient)
  dnnl::reorder weight_reorder;
  memory::desc result;  // backward data's result layout when not NHWC; else zero (empty)
  dnnl::reorder result_reorder;
};

enum Op { kForward, kGradInput, kGradParams };
using Key = std::array<int, 21>;

std::atomic<int> grad_input_layout{kConvLayoutAuto};
std::atomic<int> direct_mode{kConvDirectAuto};

// oneDNN sizes a primitive's work split for the thread count in force when it is created.
Key key(const ConvShape &s, Op op, bool bf16, bool has_bias, int act) {
  return {op, bf16, has_bias, act, threads(), s.n, s.h, s.w, s.c, s.f, s.kh, s.kw, s.sh, s.sw,
          s.pad_top, s.pad_left, s.pad_bottom, s.pad_right, s.oh, s.ow, op == kGradInput ? grad_input_layout.load() : 0};
}

Entry make(const ConvShape &s, Op op, bool bf16, bool has_bias, int act, bool any_layout = false) {
  const Descs d = descs(s, bf16, has_bias);
  auto fwd = forward_pd(s, bf16, has_bias, act);
  Entry e;
  if (op == kForward) {
    e.conv = dnnl::convolution_forward(fwd);
    e.weights = fwd.weights_desc();
    e.weight_reorder = dnnl::reorder(
        dnnl::reorder::primitive_desc(onednn_engine(), d.user_weights, onednn_engine(), e.weights));
  } else if (op == kGradInput) {
    const memory::desc nhwc({s.n, s.c, s.h, s.w}, dt::f32, tag::nhwc);
    const memory::desc diff_dst({s.n, s.f, s.oh, s.ow}, bf16 ? dt::bf16 : dt::f32, tag::nhwc);
    dnnl::convolution_backward_data::primitive_desc pd(
        onednn_engine(), algorithm::convolution_direct,
        any_layout ? memory::desc({s.n, s.c, s.h, s.w}, dt::f32, tag::any) : nhwc, d.weights_any, diff_dst, d.strides,
        d.pad_l, d.pad_r, fwd);
    e.conv = dnnl::convolution_backward_data(pd);
    e.weights = pd.weights_desc();
    e.weight_reorder = dnnl::reorder(
        dnnl::reorder::primitive_desc(onednn_engine(), d.user_weights, onednn_engine(), e.weights));
    if (pd.diff_src_desc() != nhwc) {
      e.result = pd.diff_src_desc();
      e.result_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(onednn_engine(), e.result, onednn_engine(), nhwc));
    }
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

Entry grad_input_entry(const ConvShape &s, bool bf16);

// Per-thread caches of primitives and choices stay below this many entries: a training task sees two batch sizes
// (full and last), inference a few more; the bound only keeps a long-lived executor running many models in check.
constexpr size_t kMaxEntries = 256;

const Entry &cached(const ConvShape &s, Op op, bool bf16, bool has_bias, int act) {
  thread_local std::map<Key, Entry> entries;
  const Key k = key(s, op, bf16, has_bias, act);
  auto found = entries.find(k);
  if (found == entries.end()) {
    if (entries.size() >= kMaxEntries) entries.clear();
    found = entries.emplace(k, op == kGradInput ? grad_input_entry(s, bf16) : make(s, op, bf16, has_bias, act)).first;
  }
  return found->second;
}

// Per-thread buffers: bf16 activations (two: backward weights reads both its inputs), reordered weights,
// f32 gradients before accumulation.
thread_local std::vector<uint16_t> act16_a, act16_b;
thread_local std::vector<char> weight_buffer;
thread_local std::vector<float> grad_buffer;
thread_local std::vector<char> result_buffer;

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

void run_grad_input(const Entry &e, const ConvShape &s, const float *dz, const float *w, float *dx, bool bf16) {
  memory diff_dst({{s.n, s.f, s.oh, s.ow}, bf16 ? dt::bf16 : dt::f32, tag::nhwc}, onednn_engine(),
                  activation_operand(dz, count({s.n, s.oh, s.ow, s.f}), bf16, act16_a));
  memory diff_src({{s.n, s.c, s.h, s.w}, dt::f32, tag::nhwc}, onednn_engine(), dx);
  memory result = diff_src;
  if (!e.result.is_zero()) {
    if (result_buffer.size() < e.result.get_size()) result_buffer.resize(e.result.get_size());
    result = memory(e.result, onednn_engine(), result_buffer.data());
  }
  e.conv.execute(onednn_stream(), {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, reordered_weights(e, w, s)},
                                   {DNNL_ARG_DIFF_SRC, result}});
  if (!e.result.is_zero()) e.result_reorder.execute(onednn_stream(), result, diff_src);
  onednn_stream().wait();
}

// Seconds of one backward-data pass of `e` on scratch operands.
double grad_input_seconds(const Entry &e, const ConvShape &s, bool bf16) {
  std::vector<float> dz(count({s.n, s.oh, s.ow, s.f}), 0.5f), w(count({s.kh, s.kw, s.c, s.f}), 0.25f),
      dx(count({s.n, s.h, s.w, s.c}));
  return best_seconds([&] { run_grad_input(e, s, dz.data(), w.data(), dx.data(), bf16); });
}

// Backward data as forced, or under "auto" the declaration measured faster for this shape on this thread count.
Entry grad_input_entry(const ConvShape &s, bool bf16) {
  const int mode = grad_input_layout.load();
  if (mode != kConvLayoutAuto) return make(s, kGradInput, bf16, false, kLinear, mode == kConvLayoutAny);
  Entry nhwc = make(s, kGradInput, bf16, false, kLinear, false);
  Entry any = make(s, kGradInput, bf16, false, kLinear, true);
  return grad_input_seconds(any, s, bf16) < grad_input_seconds(nhwc, s, bf16) ? any : nhwc;
}
}  // namespace

void set_conv_layout(int mode) { grad_input_layout = mode; }
void set_conv_direct(int mode) { direct_mode = mode; }

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

namespace {
void onednn_grad_params(const ConvShape &s, const float *x, const float *dz, float *gw, float *gb, float scale_w,
                        float scale_b, bool bf16);

// Whether the weight gradient of this shape comes from the direct kernel: as forced, or under "auto" whichever of it
// and oneDNN is measured faster (on scratch operands, once per shape and thread).
bool direct_grad_params(const ConvShape &s, bool bf16, bool has_bias) {
  const int mode = direct_mode.load();
  if (bf16 || mode == kConvDirectNever || !direct_conv_fits(s)) return false;
  if (mode == kConvDirectAlways) return true;
  thread_local std::map<Key, bool> chosen;
  const Key k = key(s, kGradParams, bf16, has_bias, kLinear);
  auto found = chosen.find(k);
  if (found != chosen.end()) return found->second;
  std::vector<float> x(count({s.n, s.h, s.w, s.c}), 0.5f), dz(count({s.n, s.oh, s.ow, s.f}), 0.5f),
      gw(count({s.kh, s.kw, s.c, s.f})), gb(s.f);
  float *bias_grad = has_bias ? gb.data() : nullptr;
  const bool faster =
      best_seconds([&] { direct_conv_grad_params(s, x.data(), dz.data(), gw.data(), bias_grad, 1.f, 1.f); }) <
      best_seconds([&] { onednn_grad_params(s, x.data(), dz.data(), gw.data(), bias_grad, 1.f, 1.f, false); });
  if (chosen.size() >= kMaxEntries) chosen.clear();
  return chosen.emplace(k, faster).first->second;
}
}  // namespace

void conv_grad_input(const ConvShape &s, const float *dz, const float *w, float *dx, bool bf16) {
  use_threads();
  run_grad_input(cached(s, kGradInput, bf16, false, kLinear), s, dz, w, dx, bf16);
}

void conv_grad_params(const ConvShape &s, const float *x, const float *dz, float *gw, float *gb, float scale_w,
                      float scale_b, bool bf16) {
  use_threads();
  if (direct_grad_params(s, bf16, gb != nullptr)) direct_conv_grad_params(s, x, dz, gw, gb, scale_w, scale_b);
  else onednn_grad_params(s, x, dz, gw, gb, scale_w, scale_b, bf16);
}

namespace {
void onednn_grad_params(const ConvShape &s, const float *x, const float *dz, float *gw, float *gb, float scale_w,
                        float scale_b, bool bf16) {
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
}  // namespace

}  // namespace bw
