// The oneDNN engine and the calling thread's stream, shared by the oneDNN kernels (conv.cpp, matmul.cpp).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

namespace bw {
dnnl::engine &onednn_engine();
dnnl::stream &onednn_stream();
}  // namespace bw
