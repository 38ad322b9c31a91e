// ctxwin::to_f32 / from_f32 (declared in ctxwin/dtype.h), through the active SIMD build (F16C
// and AVX2 conversions where the CPU has them).
#include "ctxwin/dtype.h"

#include "cpu/attention_kernels.h"

namespace ctxwin {

void to_f32(DType src_t, const void* src, float* dst, size_t n) {
  cpu::active_attention_kernels().to_f32(src_t, src, dst, n);
}

void from_f32(DType dst_t, const float* src, void* dst, size_t n) {
  cpu::active_attention_kernels().from_f32(dst_t, src, dst, n);
}

}  // namespace ctxwin
