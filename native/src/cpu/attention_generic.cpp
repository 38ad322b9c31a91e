// The portable build of the CPU attention kernels (4-lane GCC/Clang vectors): runs anywhere.
#include "cpu/flash_kernels.h"
#include "cpu/simd_generic.h"

namespace ctxwin::cpu {

const AttentionKernels& attention_kernels_generic() {
  static const AttentionKernels k = make_attention_kernels<simd_generic::Vec>("generic");
  return k;
}

}  // namespace ctxwin::cpu
