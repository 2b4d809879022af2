// The oneDNN engine and the calling thread's stream, shared by the oneDNN kernels (conv.cpp, matmul.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace bw {
dnnl::engine &onednn_engine();
dnnl::stream &onednn_stream();
// An activation as a primitive reads it: `from` itself (fp32), or its bf16 copy in `buffer` (grown as needed).
void *activation_operand(const float *from, size_t n, bool bf16, std::vector<uint16_t> &buffer);
}  // namespace bw
