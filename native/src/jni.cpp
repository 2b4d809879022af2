// JNI entry points of bigwrap.nn.NativeCalls. Tensors arrive as their Java storage arrays plus offsets and
// are read in place (GetPrimitiveArrayCritical: no copies); a kernel failure becomes an IllegalStateException.
#include <jni.h>

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "kernels.h"

namespace {
// A Java array pinned for the duration of a call; null stays null.
class Pinned {
 public:
  Pinned(JNIEnv *env, jarray array, bool written)
      : env_(env), array_(array), mode_(written ? 0 : JNI_ABORT),
        data_(array ? env->GetPrimitiveArrayCritical(array, nullptr) : nullptr) {}
  ~Pinned() {
    if (data_) env_->ReleasePrimitiveArrayCritical(array_, data_, mode_);
  }
  Pinned(const Pinned &) = delete;
  Pinned &operator=(const Pinned &) = delete;

  float *floats(jint offset) const { return data_ ? static_cast<float *>(data_) + offset : nullptr; }
  uint16_t *shorts() const { return static_cast<uint16_t *>(data_); }
  const uint8_t *booleans() const { return static_cast<const uint8_t *>(data_); }
  int32_t *ints() const { return static_cast<int32_t *>(data_); }

 private:
  JNIEnv *env_;
  jarray array_;
  jint mode_;
  void *data_;
};

// Runs `kernel` with every array released before a Java exception is raised (JNI forbids calls between
// GetPrimitiveArrayCritical and its release).
template <typename Kernel>
void guarded(JNIEnv *env, Kernel kernel) {
  std::string failure;
  try {
    kernel();
  } catch (const std::exception &e) {
    failure = e.what();
  }
  if (!failure.empty()) {
    env->ThrowNew(env->FindClass("java/lang/IllegalStateException"), ("bigwrap native kernel: " + failure).c_str());
  }
}

// A slice's gradient parts (bigwrap.train.GradientParts) pinned for a call: every array reference and number is
// read first, as no JNI call may come between pinning an array and releasing it.
class PinnedParts {
 public:
  PinnedParts(JNIEnv *env, jobjectArray arrays, jintArray offsets, jfloatArray scales)
      : count_(env->GetArrayLength(arrays)), offsets_(count_), scales_(count_), pointers_(count_) {
    std::vector<jarray> refs(count_);
    for (jsize k = 0; k < count_; ++k) refs[k] = static_cast<jarray>(env->GetObjectArrayElement(arrays, k));
    env->GetIntArrayRegion(offsets, 0, count_, offsets_.data());
    env->GetFloatArrayRegion(scales, 0, count_, scales_.data());
    for (jsize k = 0; k < count_; ++k) {
      pinned_.emplace_back(std::make_unique<Pinned>(env, refs[k], false));
      pointers_[k] = pinned_.back()->floats(offsets_[k]);
    }
  }

  bw::GradientParts parts() const { return {pointers_.data(), scales_.data(), static_cast<int>(count_)}; }

 private:
  jsize count_;
  std::vector<jint> offsets_;
  std::vector<float> scales_;
  std::vector<const float *> pointers_;
  std::vector<std::unique_ptr<Pinned>> pinned_;
};

bw::ConvShape conv_shape(JNIEnv *env, jintArray shape) {
  jint v[15];
  env->GetIntArrayRegion(shape, 0, 15, v);
  return {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14]};
}

bw::PoolShape pool_shape(JNIEnv *env, jintArray shape) {
  jint v[12];
  env->GetIntArrayRegion(shape, 0, 12, v);
  return {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]};
}

bw::AttentionShape attention_shape(JNIEnv *env, jintArray shape, jfloat scale) {
  jint v[6];
  env->GetIntArrayRegion(shape, 0, 6, v);
  return {v[0], v[1], v[2], v[3], v[4], v[5], scale};
}
}  // namespace

extern "C" {

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *, void *) {
  bw::init();
  return JNI_VERSION_1_8;
}

JNIEXPORT jstring JNICALL Java_bigwrap_nn_NativeCalls_info(JNIEnv *env, jobject, jstring path) {
  const char *chars = env->GetStringUTFChars(path, nullptr);
  const std::string json = bw::info_json(chars);
  env->ReleaseStringUTFChars(path, chars);
  return env->NewStringUTF(json.c_str());
}

JNIEXPORT jboolean JNICALL Java_bigwrap_nn_NativeCalls_bf16Supported(JNIEnv *, jobject) {
  return bw::bf16_supported();
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_setThreads(JNIEnv *, jobject, jint threads) {
  bw::set_threads(threads);
}

JNIEXPORT jint JNICALL Java_bigwrap_nn_NativeCalls_threads(JNIEnv *, jobject) { return bw::threads(); }

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_setGemm(JNIEnv *, jobject, jint mode) { bw::set_gemm(mode); }

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_setConvLayout(JNIEnv *, jobject, jint mode) {
  bw::set_conv_layout(mode);
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_setConvDirect(JNIEnv *, jobject, jint mode) {
  bw::set_conv_direct(mode);
}

JNIEXPORT jstring JNICALL Java_bigwrap_nn_NativeCalls_gemmBackend(JNIEnv *env, jobject, jint batch, jint in,
    jint out, jboolean bf16) {
  std::string backend;
  guarded(env, [&] { backend = bw::gemm_backend(batch, in, out, bf16); });
  return backend.empty() ? nullptr : env->NewStringUTF(backend.c_str());
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_activationBackward(JNIEnv *env, jobject, jfloatArray y, jint yo,
    jfloatArray dy, jint dyo, jfloatArray dz, jint dzo, jint n, jint act) {
  Pinned py(env, y, false), pdy(env, dy, false), pdz(env, dz, true);
  guarded(env, [&] { bw::activation_backward(py.floats(yo), pdy.floats(dyo), pdz.floats(dzo), n, act); });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_denseForward(JNIEnv *env, jobject, jfloatArray x, jint xo,
    jfloatArray w, jint wo, jshortArray w16, jfloatArray b, jint bo, jfloatArray y, jint yo, jint batch, jint in,
    jint out, jint act, jboolean bf16) {
  Pinned px(env, x, false), pw(env, w, false), pw16(env, w16, true), pb(env, b, false), py(env, y, true);
  guarded(env, [&] {
    bw::dense_forward(px.floats(xo), pw.floats(wo), pw16.shorts(), pb.floats(bo), py.floats(yo), batch, in, out,
                      act, bf16);
  });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_denseGradInput(JNIEnv *env, jobject, jfloatArray dz, jint dzo,
    jfloatArray w, jint wo, jshortArray w16, jfloatArray dx, jint dxo, jint batch, jint in, jint out, jboolean bf16) {
  Pinned pdz(env, dz, false), pw(env, w, false), pw16(env, w16, false), pdx(env, dx, true);
  guarded(env, [&] {
    bw::dense_grad_input(pdz.floats(dzo), pw.floats(wo), pw16.shorts(), pdx.floats(dxo), batch, in, out, bf16);
  });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_denseGradParams(JNIEnv *env, jobject, jfloatArray x, jint xo,
    jfloatArray dz, jint dzo, jfloatArray gw, jint gwo, jfloatArray gb, jint gbo, jint batch, jint in, jint out,
    jfloat scale_w, jfloat scale_b, jboolean accumulate, jboolean bf16) {
  Pinned px(env, x, false), pdz(env, dz, false), pgw(env, gw, true), pgb(env, gb, true);
  guarded(env, [&] {
    bw::dense_grad_params(px.floats(xo), pdz.floats(dzo), pgw.floats(gwo), pgb.floats(gbo), batch, in, out, scale_w,
                          scale_b, accumulate, bf16);
  });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_convForward(JNIEnv *env, jobject, jintArray shape, jfloatArray x,
    jint xo, jfloatArray w, jint wo, jfloatArray b, jint bo, jfloatArray y, jint yo, jint act, jboolean bf16) {
  const bw::ConvShape s = conv_shape(env, shape);
  Pinned px(env, x, false), pw(env, w, false), pb(env, b, false), py(env, y, true);
  guarded(env, [&] { bw::conv_forward(s, px.floats(xo), pw.floats(wo), pb.floats(bo), py.floats(yo), act, bf16); });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_convGradInput(JNIEnv *env, jobject, jintArray shape,
    jfloatArray dz, jint dzo, jfloatArray w, jint wo, jfloatArray dx, jint dxo, jboolean bf16) {
  const bw::ConvShape s = conv_shape(env, shape);
  Pinned pdz(env, dz, false), pw(env, w, false), pdx(env, dx, true);
  guarded(env, [&] { bw::conv_grad_input(s, pdz.floats(dzo), pw.floats(wo), pdx.floats(dxo), bf16); });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_convGradParams(JNIEnv *env, jobject, jintArray shape,
    jfloatArray x, jint xo, jfloatArray dz, jint dzo, jfloatArray gw, jint gwo, jfloatArray gb, jint gbo,
    jfloat scale_w, jfloat scale_b, jboolean bf16) {
  const bw::ConvShape s = conv_shape(env, shape);
  Pinned px(env, x, false), pdz(env, dz, false), pgw(env, gw, true), pgb(env, gb, true);
  guarded(env, [&] {
    bw::conv_grad_params(s, px.floats(xo), pdz.floats(dzo), pgw.floats(gwo), pgb.floats(gbo), scale_w, scale_b,
                         bf16);
  });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_sgdStep(JNIEnv *env, jobject, jobjectArray parts,
    jintArray offsets, jfloatArray scales, jfloatArray w, jint wo, jfloatArray velocity, jint n, jfloat bound,
    jfloat rate, jfloat decay, jfloat momentum, jboolean nesterov) {
  PinnedParts pp(env, parts, offsets, scales);
  Pinned pw(env, w, true), pv(env, velocity, true);
  guarded(env, [&] {
    bw::sgd_step(pp.parts(), pw.floats(wo), pv.floats(0), n, bound, rate, decay, momentum, nesterov);
  });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_adamStep(JNIEnv *env, jobject, jobjectArray parts,
    jintArray offsets, jfloatArray scales, jfloatArray w, jint wo, jfloatArray m, jfloatArray v, jint n, jfloat bound,
    jfloat shrink, jfloat step, jfloat beta1, jfloat beta2, jfloat epsilon) {
  PinnedParts pp(env, parts, offsets, scales);
  Pinned pw(env, w, true), pm(env, m, true), pv(env, v, true);
  guarded(env, [&] {
    bw::adam_step(pp.parts(), pw.floats(wo), pm.floats(0), pv.floats(0), n, bound, shrink, step, beta1, beta2,
                  epsilon);
  });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_attentionForward(JNIEnv *env, jobject, jintArray shape,
    jfloat scale, jfloatArray q, jint qo, jfloatArray k, jint ko, jfloatArray v, jint vo, jbooleanArray allowed,
    jfloatArray kept, jfloatArray probabilities, jfloatArray y, jint yo) {
  const bw::AttentionShape s = attention_shape(env, shape, scale);
  Pinned pq(env, q, false), pk(env, k, false), pv(env, v, false), pa(env, allowed, false), pkept(env, kept, false),
      pp(env, probabilities, true), py(env, y, true);
  guarded(env, [&] {
    bw::attention_forward(s, pq.floats(qo), pk.floats(ko), pv.floats(vo), pa.booleans(), pkept.floats(0),
                          pp.floats(0), py.floats(yo));
  });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_attentionBackward(JNIEnv *env, jobject, jintArray shape,
    jfloat scale, jfloatArray q, jint qo, jfloatArray k, jint ko, jfloatArray v, jint vo, jbooleanArray allowed,
    jfloatArray kept, jfloatArray probabilities, jfloatArray dy, jint dyo, jfloatArray dq, jfloatArray dk,
    jfloatArray dv) {
  const bw::AttentionShape s = attention_shape(env, shape, scale);
  Pinned pq(env, q, false), pk(env, k, false), pv(env, v, false), pa(env, allowed, false), pkept(env, kept, false),
      pp(env, probabilities, false), pdy(env, dy, false), pdq(env, dq, true), pdk(env, dk, true), pdv(env, dv, true);
  guarded(env, [&] {
    bw::attention_backward(s, pq.floats(qo), pk.floats(ko), pv.floats(vo), pa.booleans(), pkept.floats(0),
                           pp.floats(0), pdy.floats(dyo), pdq.floats(0), pdk.floats(0), pdv.floats(0));
  });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_layerNormForward(JNIEnv *env, jobject, jfloatArray x, jint xo,
    jfloatArray gamma, jint go, jfloatArray beta, jint bo, jfloatArray y, jint yo, jfloatArray normalized,
    jfloatArray inv_std, jint rows, jint size, jdouble epsilon) {
  Pinned px(env, x, false), pg(env, gamma, false), pb(env, beta, false), py(env, y, true), pn(env, normalized, true),
      pi(env, inv_std, true);
  guarded(env, [&] {
    bw::layer_norm_forward(px.floats(xo), pg.floats(go), pb.floats(bo), py.floats(yo), pn.floats(0), pi.floats(0),
                           rows, size, epsilon);
  });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_layerNormGradInput(JNIEnv *env, jobject, jfloatArray dy, jint dyo,
    jfloatArray gamma, jint go, jfloatArray normalized, jfloatArray inv_std, jfloatArray dx, jint dxo, jint rows,
    jint size, jfloatArray scratch) {
  Pinned pdy(env, dy, false), pg(env, gamma, false), pn(env, normalized, false), pi(env, inv_std, false),
      pdx(env, dx, true), ps(env, scratch, true);
  guarded(env, [&] {
    bw::layer_norm_grad_input(pdy.floats(dyo), pg.floats(go), pn.floats(0), pi.floats(0), pdx.floats(dxo), rows, size,
                              ps.floats(0));
  });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_layerNormGradParams(JNIEnv *env, jobject, jfloatArray dy,
    jint dyo, jfloatArray normalized, jfloatArray grad_gamma, jint ggo, jfloatArray grad_beta, jint gbo, jint rows,
    jint size, jfloat scale_gamma, jfloat scale_beta) {
  Pinned pdy(env, dy, false), pn(env, normalized, false), pgg(env, grad_gamma, true), pgb(env, grad_beta, true);
  guarded(env, [&] {
    bw::layer_norm_grad_params(pdy.floats(dyo), pn.floats(0), pgg.floats(ggo), pgb.floats(gbo), rows, size,
                               scale_gamma, scale_beta);
  });
}

JNIEXPORT void JNICALL Java_bigwrap_nn_NativeCalls_maxPoolTracked(JNIEnv *env, jobject, jintArray shape, jfloatArray x,
    jint xo, jfloatArray y, jint yo, jintArray sources) {
  const bw::PoolShape s = pool_shape(env, shape);
  Pinned px(env, x, false), py(env, y, true), ps(env, sources, true);
  guarded(env, [&] { bw::max_pool_tracked(s, px.floats(xo), py.floats(yo), ps.ints()); });
}

}  // extern "C"
