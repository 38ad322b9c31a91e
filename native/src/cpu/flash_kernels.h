// Instantiates the CPU attention kernels for one vector type: included once by each ISA build
// (attention_generic.cpp, avx2/attention_avx2.cpp, avx512/attention_avx512.cpp).
#pragma once
#include "cpu/attention_kernels.h"
#include "cpu/flash_backward.h"
#include "cpu/flash_forward.h"

namespace ctxwin::cpu {

template <class V>
inline void convert_to_f32(DType src_t, const void* src, float* dst, size_t n) {
  constexpr size_t kChunk = 1 << 20;  // load_row takes an int count
  for (size_t i = 0; i < n; i += kChunk) V::load_row(src_t, src, i, dst + i, (int)(n - i < kChunk ? n - i : kChunk));
}
template <class V>
inline void convert_from_f32(DType dst_t, const float* src, void* dst, size_t n) {
  constexpr size_t kChunk = 1 << 20;
  for (size_t i = 0; i < n; i += kChunk) V::store_row(dst_t, dst, i, src + i, (int)(n - i < kChunk ? n - i : kChunk));
}

template <class V>
inline AttentionKernels make_attention_kernels(const char* isa) {
  AttentionKernels k;
  k.isa = isa;
  k.vec_width = V::W;
  k.panel_keys = V::kTileVecs * V::W;
  k.scratch_floats = &thread_scratch_floats<V>;
  k.forward_prepare_kv = &forward_prepare_kv<V>;
  k.forward_query_block = &forward_query_block<V>;
  k.backward_prepare_kv = &backward_prepare_kv<V>;
  k.backward_prepare_q = &backward_prepare_q<V>;
  k.backward_key_pass = &backward_key_pass<V>;
  k.backward_finish_dq = &backward_finish_dq<V>;
  k.backward_query_pass = &backward_query_pass<V>;
  k.to_f32 = &convert_to_f32<V>;
  k.from_f32 = &convert_from_f32<V>;
  return k;
}

}  // namespace ctxwin::cpu
