// Max pooling in training (bigwrap.nn.MaxPool2D): each window's maximum and the input cell it came from, in passes
// over whole rows rather than window by window, so every loop runs over contiguous values whatever the channel
// count (LeNet-5's first pooling has 6 channels, less than a vector). Per output row: for each of its input rows,
// the best of each window's columns (for every window start, a pass per column offset), then the best of those
// over the rows; then each window's value and source picked out. Strict comparisons keep the first maximum in
// each pass, columns before rows, which is the first in row-major order: BigDL's and PyTorch's rule for ties.
// The JVM's version of these passes measured slower than its window walk (the JIT vectorises no select of an
// int by a float comparison); here the selects vectorise (-fno-trapping-math).
#include <algorithm>
#include <limits>
#include <vector>

#include "kernels.h"

namespace bw {
namespace {
thread_local std::vector<float> padded_row, column_best, best;
thread_local std::vector<int32_t> column_of, best_column, best_row;

// The maximum propagates a NaN, as the JVM's math.max does; a source moves only on a strictly greater value.
__attribute__((always_inline)) inline bool wins(float v, float current) { return v > current || v != v; }

// `when ? a : b` for ints by masks: as a select GCC stores it with AVX2's masked store, microcoded on AMD Zen
// (the passes took 0.34 ms per 64 LeNet-5 images instead of 0.1).
__attribute__((always_inline)) inline int32_t pick(bool when, int32_t a, int32_t b) {
  const int32_t mask = -static_cast<int32_t>(when);
  return (a & mask) | (b & ~mask);
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void best_of_columns(const float *row, float *best_value, int32_t *best_at, int spans, int pool_w, int channels) {
  for (int j = 0; j < spans; ++j) {
    best_value[j] = row[j];
    best_at[j] = 0;
  }
  for (int k = 1; k < pool_w; ++k) {
    const float *shifted = row + k * channels;
    for (int j = 0; j < spans; ++j) {
      const float v = shifted[j];
      best_at[j] = pick(v > best_value[j], k, best_at[j]);
      best_value[j] = wins(v, best_value[j]) ? v : best_value[j];
    }
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void best_of_rows(const float *value, const int32_t *column, int row, float *best_value, int32_t *best_col,
                  int32_t *best_r, int spans) {
  for (int j = 0; j < spans; ++j) {
    const bool greater = value[j] > best_value[j];
    best_col[j] = pick(greater, column[j], best_col[j]);
    best_r[j] = pick(greater, row, best_r[j]);
    best_value[j] = wins(value[j], best_value[j]) ? value[j] : best_value[j];
  }
}
}  // namespace

void max_pool_tracked(const PoolShape &s, const float *x, float *y, int32_t *sources) {
  const int c = s.c;
  // the padded row holds every cell some window reaches; cells outside the image are -inf and never win a
  // strict comparison
  const int padded_w = std::max(s.left + s.w, (s.ow - 1) * s.sw + s.pw);
  const int spans = ((s.ow - 1) * s.sw + 1) * c;  // one value per window start up to the last window's
  padded_row.assign(static_cast<size_t>(padded_w) * c, -std::numeric_limits<float>::infinity());
  column_best.resize(spans);
  best.resize(spans);
  column_of.resize(spans);
  best_column.resize(spans);
  best_row.resize(spans);
  // once: each thread_local access is a call in a shared library
  float *const row = padded_row.data(), *const column_value = column_best.data(), *const value = best.data();
  int32_t *const column = column_of.data(), *const at_column = best_column.data(), *const at_row = best_row.data();
  const size_t row_floats = static_cast<size_t>(s.w) * c;
  for (int n = 0; n < s.n; ++n) {
    const size_t image = static_cast<size_t>(n) * s.h * row_floats;
    for (int oh = 0; oh < s.oh; ++oh) {
      const int h0 = std::max(oh * s.sh - s.top, 0), h1 = std::min(oh * s.sh - s.top + s.ph, s.h);
      for (int h = h0; h < h1; ++h) {
        const float *input_row = x + image + h * row_floats;
        if (padded_w != s.w) {  // some window reaches outside the image: pad the row
          std::copy(input_row, input_row + row_floats, row + static_cast<size_t>(s.left) * c);
          input_row = row;
        }
        best_of_columns(input_row, h == h0 ? value : column_value, h == h0 ? at_column : column, spans, s.pw, c);
        if (h == h0) {
          std::fill(at_row, at_row + spans, h0);
        } else {
          best_of_rows(column_value, column, h, value, at_column, at_row, spans);
        }
      }
      float *out = y + (static_cast<size_t>(n) * s.oh + oh) * s.ow * c;
      int32_t *from = sources + (static_cast<size_t>(n) * s.oh + oh) * s.ow * c;
      for (int ow = 0; ow < s.ow; ++ow) {
        const int start = ow * s.sw - s.left;  // the window's first column, maybe outside the image
        const int j0 = ow * s.sw * c;
        for (int ch = 0; ch < c; ++ch) {
          int w = start + at_column[j0 + ch];
          // a padded cell won only where every cell of the window is -inf: the window's first cell then
          if (w < 0 || w >= s.w) w = std::max(start, 0);
          out[ow * c + ch] = value[j0 + ch];
          from[ow * c + ch] = static_cast<int32_t>(image + (static_cast<size_t>(at_row[j0 + ch]) * s.w + w) * c + ch);
        }
      }
    }
  }
}
}  // namespace bw
