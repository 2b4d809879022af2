// The weight gradient of a stride-1 convolution over few input channels, computed directly (LeNet-5's first layer:
// one channel in, six filters). oneDNN's kernels vectorise over channels, which so few do not fill (that layer:
// 17 GFLOP/s of 93 on one AVX2 core, 0.89 ms for 64 images); this one vectorises over the image (0.63–0.75 ms): each
// image is laid out once as zero-padded planes, one per channel, with rows `stride` apart, and each tap's gradient
// is a dot product of a shifted run of its plane with the output's gradient over all positions, for a block of
// filters at once with the sums in registers. Positions are `stride` to a row; those past the image's width carry a
// zero gradient. conv.cpp times it against oneDNN per shape and runs the faster (fp32 only). A forward kernel
// built the same way measured slower than oneDNN's (0.96 against 0.71 ms), so forward stays on oneDNN.
#include <algorithm>
#include <vector>

#include "kernels.h"
#include "lanes.h"

namespace bw {
namespace {
// Filters per pass: a vector of sums and one of the output's gradient per filter stay in registers (16 on AVX2).
constexpr int kGradFilters = 4;

struct Planes {
  int stride, rows;  // a padded row's floats (a multiple of kLanes); padded rows per channel
  size_t plane, span;  // floats per channel plane; output positions computed per filter (rows `stride` apart)
};

Planes planes_of(const ConvShape &s) {
  const int stride = (s.w + s.pad_left + s.pad_right + kLanes - 1) / kLanes * kLanes;
  const int rows = s.h + s.pad_top + s.pad_bottom;
  return {stride, rows, static_cast<size_t>(rows) * stride, static_cast<size_t>(s.oh) * stride};
}

// The image's planes and the output's gradient as a row per filter, reused per thread.
thread_local std::vector<float> image_planes, gradient_rows;

// Lays out image `n` of x as c zero-padded planes (the padding and the columns past it stay zero; one more row's
// worth after the last plane covers the thrown-away columns' reads).
void fill_planes(const ConvShape &s, const Planes &p, const float *x, int n) {
  const float *image = x + static_cast<size_t>(n) * s.h * s.w * s.c;
  for (int ci = 0; ci < s.c; ++ci) {
    for (int ih = 0; ih < s.h; ++ih) {
      float *row = image_planes.data() + ci * p.plane + static_cast<size_t>(ih + s.pad_top) * p.stride + s.pad_left;
      const float *from = image + static_cast<size_t>(ih) * s.w * s.c + ci;
      for (int iw = 0; iw < s.w; ++iw) row[iw] = from[static_cast<size_t>(iw) * s.c];
    }
  }
}

// Zeroes the buffers: the padding and the positions past the image's width stay zero.
void prepare(const ConvShape &s, const Planes &p) {
  image_planes.assign(s.c * p.plane + p.stride, 0.f);
  const int blocks = (s.f + kGradFilters - 1) / kGradFilters;
  gradient_rows.assign(static_cast<size_t>(blocks) * kGradFilters * p.span, 0.f);  // rows past the last filter: zero
}

// The tap (kh, kw, ci)'s run of its plane: where output position 0 reads.
const float *tap_run(const ConvShape &s, const Planes &p, int kh, int kw, int ci) {
  return image_planes.data() + ci * p.plane + static_cast<size_t>(kh) * p.stride + kw;
}
}  // namespace

bool direct_conv_fits(const ConvShape &s) { return s.sh == 1 && s.sw == 1 && s.c <= kDirectConvMaxChannels; }

__attribute__((target_clones("avx512f", "avx2", "default")))
void direct_conv_grad_params(const ConvShape &s, const float *x, const float *dz, float *gw, float *gb, float scale_w,
                             float scale_b) {
  const Planes p = planes_of(s);
  prepare(s, p);
  const size_t weight_n = static_cast<size_t>(s.kh) * s.kw * s.c * s.f;
  std::vector<double> weight_sums(weight_n, 0.0), bias_sums(s.f, 0.0);  // over images, in double
  const int blocks = (s.f + kGradFilters - 1) / kGradFilters;
  float *const gradients = gradient_rows.data();  // once: each thread_local access is a call in a shared library
  for (int n = 0; n < s.n; ++n) {
    fill_planes(s, p, x, n);
    const float *grad = dz + static_cast<size_t>(n) * s.oh * s.ow * s.f;
    for (int oh = 0; oh < s.oh; ++oh) {
      for (int ow = 0; ow < s.ow; ++ow) {
        for (int f = 0; f < s.f; ++f) {
          const float g = grad[(static_cast<size_t>(oh) * s.ow + ow) * s.f + f];
          gradients[f * p.span + oh * p.stride + ow] = g;
          bias_sums[f] += g;
        }
      }
    }
    for (int b = 0; b < blocks; ++b) {
      const float *rows = gradients + static_cast<size_t>(b) * kGradFilters * p.span;
      const int filters = std::min(kGradFilters, s.f - b * kGradFilters);
      for (int kh = 0; kh < s.kh; ++kh) {
        for (int kw = 0; kw < s.kw; ++kw) {
          for (int ci = 0; ci < s.c; ++ci) {
            const float *run = tap_run(s, p, kh, kw, ci);
            Floats8 sums[kGradFilters] = {};  // registers: the position loop adds into them
            for (size_t j = 0; j < p.span; j += kLanes) {
              const Floats8 in = load8(run + j);
              for (int k = 0; k < kGradFilters; ++k) sums[k] += in * load8(rows + k * p.span + j);
            }
            const size_t tap = ((static_cast<size_t>(kh) * s.kw + kw) * s.c + ci) * s.f + b * kGradFilters;
            for (int k = 0; k < filters; ++k) {
              for (int l = 0; l < kLanes; ++l) weight_sums[tap + k] += sums[k][l];
            }
          }
        }
      }
    }
  }
  for (size_t i = 0; i < weight_n; ++i) gw[i] += scale_w * static_cast<float>(weight_sums[i]);
  if (gb) {
    for (int f = 0; f < s.f; ++f) gb[f] += scale_b * static_cast<float>(bias_sums[f]);
  }
}

}  // namespace bw
