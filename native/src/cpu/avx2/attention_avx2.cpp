// The AVX2 + FMA + F16C build of the CPU attention kernels (compiled with -mavx2 -mfma -mf16c;
// only called after cpu_features() confirmed the CPU has them).
#include "cpu/avx2/simd_avx2.h"
#include "cpu/flash_kernels.h"

namespace ctxwin::cpu {

const AttentionKernels& attention_kernels_avx2() {
  static const AttentionKernels k = make_attention_kernels<simd_avx2::Vec>("avx2");
  return k;
}

}  // namespace ctxwin::cpu
