// Threads, CPU capabilities, elementwise helpers and the facts the JVM reports (info_json).
#include <cpuid.h>
#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <mkl.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "kernels.h"
#include "onednn.h"

// libiomp5's entry points, declared here rather than through <omp.h>: the library is not compiled with
// -fopenmp (that would link libgomp, a second OpenMP runtime), it links libiomp5 (see native/README.md).
extern "C" {
void omp_set_num_threads(int);
int omp_get_max_threads(void);
}

namespace bw {
namespace {
thread_local int thread_count = 1;
bool mkl_on_tbb = false;

bool cpuid_bf16() {
  unsigned a, b, c, d;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  const bool amx_bf16 = d & (1u << 22);
  __cpuid_count(7, 1, a, b, c, d);
  const bool avx512_bf16 = a & (1u << 5);
  return amx_bf16 || avx512_bf16;
}

std::string quoted(const std::string &s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) >= 0x20) out += ch;
  }
  return out + "\"";
}

// Every OpenMP runtime mapped into this process: BigDL's libiomp5 must be the only one.
int collect_openmp(struct dl_phdr_info *info, size_t, void *data) {
  const char *name = info->dlpi_name;
  const char *base = name ? std::strrchr(name, '/') : nullptr;
  base = base ? base + 1 : name;
  if (base && (std::strncmp(base, "libiomp5", 8) == 0 || std::strncmp(base, "libgomp", 7) == 0 ||
               std::strncmp(base, "libomp.", 7) == 0)) {
    static_cast<std::vector<std::string> *>(data)->push_back(name);
  }
  return 0;
}

// MKL threads through oneTBB (the mkl wheel's own dependency), not OpenMP: its OpenMP layer would need a second,
// newer libiomp5 (native/README.md). oneTBB is opened here through this library's RPATH, so that MKL's TBB layer
// (beside libmkl_rt) finds it loaded; where either is missing MKL stays sequential (MKL would otherwise end the
// process when it failed to load the layer).
bool tbb_layer_present() {
  Dl_info mkl_rt;
  if (!dladdr(reinterpret_cast<void *>(&mkl_set_threading_layer), &mkl_rt) || !mkl_rt.dli_fname) return false;
  std::string layer = mkl_rt.dli_fname;
  layer = layer.substr(0, layer.rfind('/') + 1) + "libmkl_tbb_thread.so.3";
  return access(layer.c_str(), R_OK) == 0 && dlopen("libtbb.so.12", RTLD_NOW | RTLD_GLOBAL);
}
}  // namespace

dnnl::engine &onednn_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream &onednn_stream() {
  thread_local dnnl::stream s(onednn_engine());
  return s;
}

void *activation_operand(const float *from, size_t n, bool bf16, std::vector<uint16_t> &buffer) {
  if (!bf16) return const_cast<float *>(from);
  if (buffer.size() < n) buffer.resize(n);
  to_bf16(from, buffer.data(), n);
  return buffer.data();
}

void init() {
  mkl_set_interface_layer(MKL_INTERFACE_LP64);
  mkl_on_tbb = tbb_layer_present();
  mkl_set_threading_layer(mkl_on_tbb ? MKL_THREADING_TBB : MKL_THREADING_SEQUENTIAL);
}

void set_threads(int threads) { thread_count = threads > 0 ? threads : 1; }
int threads() { return thread_count; }

void use_threads() {
  if (omp_get_max_threads() != thread_count) omp_set_num_threads(thread_count);
  mkl_set_num_threads_local(thread_count);
}

bool bf16_supported() {
  static const bool supported = cpuid_bf16();
  return supported;
}

std::string info_json(const std::string &library_path) {
  char mkl_version[256];
  mkl_get_version_string(mkl_version, sizeof mkl_version);
  const dnnl_version_t *dnnl = dnnl_version();
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const unsigned amx = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_amx);
  std::vector<std::string> runtimes;
  dl_iterate_phdr(collect_openmp, &runtimes);
  std::string json = "{\"library\": " + quoted(library_path) + ", \"mkl\": " + quoted(mkl_version) +
                     ", \"onednn\": \"" + std::to_string(dnnl->major) + "." + std::to_string(dnnl->minor) + "." +
                     std::to_string(dnnl->patch) + "\", \"bf16\": " + (bf16_supported() ? "true" : "false") +
                     ", \"amx\": " + ((isa & amx) == amx ? "true" : "false") +
                     ", \"mkl_threading\": \"" + (mkl_on_tbb ? "tbb" : "sequential") + "\", \"openmp_runtimes\": [";
  for (size_t i = 0; i < runtimes.size(); ++i) json += (i ? ", " : "") + quoted(runtimes[i]);
  return json + "]}";
}

// One clone per vector width: the library runs on any x86-64, fastest where AVX-512 is there.
__attribute__((target_clones("avx512f", "avx2", "default")))
void to_bf16(const float *from, uint16_t *to, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, from + i, 4);
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    to[i] = static_cast<uint16_t>(bits >> 16);
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void bias_activation(float *y, const float *bias, size_t rows, size_t cols, int act) {
  for (size_t r = 0; r < rows; ++r) {
    float *row = y + r * cols;
    if (bias) {
      for (size_t j = 0; j < cols; ++j) row[j] += bias[j];
    }
    switch (act) {
      case kRelu:
        for (size_t j = 0; j < cols; ++j) row[j] = row[j] > 0.f ? row[j] : 0.f;
        break;
      case kSigmoid:
        for (size_t j = 0; j < cols; ++j) row[j] = 1.f / (1.f + std::exp(-row[j]));
        break;
      case kTanh:
        for (size_t j = 0; j < cols; ++j) row[j] = std::tanh(row[j]);
        break;
      default:
        break;
    }
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void activation_backward(const float *y, const float *dy, float *dz, size_t n, int act) {
  switch (act) {
    case kRelu:
      for (size_t i = 0; i < n; ++i) dz[i] = y[i] > 0.f ? dy[i] : 0.f;
      break;
    case kSigmoid:
      for (size_t i = 0; i < n; ++i) dz[i] = dy[i] * y[i] * (1.f - y[i]);
      break;
    case kTanh:
      for (size_t i = 0; i < n; ++i) dz[i] = dy[i] * (1.f - y[i] * y[i]);
      break;
    default:
      std::memcpy(dz, dy, n * sizeof(float));
  }
}

}  // namespace bw
