// The AVX-512 (F/BW/DQ/VL) build of the CPU attention kernels (compiled with -mavx512f ...;
// only called after cpu_features() confirmed the CPU has them).
#include "cpu/avx512/simd_avx512.h"
#include "cpu/flash_kernels.h"

namespace ctxwin::cpu {

const AttentionKernels& attention_kernels_avx512() {
  static const AttentionKernels k = make_attention_kernels<simd_avx512::Vec>("avx512");
  return k;
}

}  // namespace ctxwin::cpu
