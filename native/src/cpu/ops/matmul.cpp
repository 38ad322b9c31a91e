// CPU kernel of matmul (native/src/ops/matmul.cpp) on the blocked GEMM (gemm.h).
#include <algorithm>
#include <cstring>

#include "cpu/ops/gemm.h"
#include "cpu/ops/kernels.h"

namespace ctxwin::cpu {

namespace {

void matmul_kernel(OpContext& c) {
  const Storage& a = *c.in[0];
  const Storage& b = *c.in[1];
  const Storage* cin = c.in.size() > 2 ? c.in[2] : nullptr;
  Storage& out = *c.out[0];
  bool ta = c.attrs.flag("transA"), tb = c.attrs.flag("transB");
  float alpha = (float)c.attrs.num("alpha", 1.0);
  float beta = cin ? (float)c.attrs.num("beta", 1.0) : 0.f;
  int64_t last = a.shape().back();
  int64_t lead = last == 0 ? 0 : a.numel() / last;
  if (last == 0) {  // a has no elements: the leading product from the shape
    lead = 1;
    for (size_t i = 0; i + 1 < a.shape().size(); ++i) lead *= a.shape()[i];
  }
  int64_t M = ta ? last : lead, K = ta ? lead : last;
  int64_t N = tb ? b.shape()[0] : b.shape()[1];
  GemmOperand A{a.data(), a.dtype(), ta ? 1 : K, ta ? M : 1};
  GemmOperand B{b.data(), b.dtype(), tb ? 1 : N, tb ? K : 1};
  if (!cin || beta == 0.f) {
    cin = nullptr;
    beta = 0.f;
  }
  if (out.dtype() == DType::F32) {
    float* C = (float*)out.data();
    if (cin) row_kernels().to_f32(cin->dtype(), cin->data(), C, M * N);
    gemm(M, N, K, alpha, A, B, beta, C, N);
    return;
  }
  // Half-type output: through an f32 buffer of a block of rows at a time (~4 MB, at least 64 rows;
  // B is packed again per block: 1/(2*64) of the work at most).
  const int64_t MB = std::max<int64_t>(64, std::min<int64_t>(M, ((int64_t)1 << 20) / std::max<int64_t>(N, 1)));
  const size_t es = dtype_size(a.dtype()), eo = dtype_size(out.dtype());
  for (int64_t i0 = 0; i0 < M; i0 += MB) {
    const int64_t mb = std::min(MB, M - i0);
    float* C = scratch_f32(0, (size_t)(mb * N));
    GemmOperand Ab = A;
    Ab.data = (const char*)a.data() + (size_t)(i0 * A.rs) * es;
    if (cin) row_kernels().to_f32(cin->dtype(), (const char*)cin->data() + (size_t)(i0 * N) * dtype_size(cin->dtype()), C, mb * N);
    gemm(mb, N, K, alpha, Ab, B, beta, C, N);
    row_kernels().from_f32(out.dtype(), C, (char*)out.data() + (size_t)(i0 * N) * eo, mb * N);
  }
}

}  // namespace

void register_matmul_kernels() { register_kernel("cpu", "matmul", matmul_kernel); }

}  // namespace ctxwin::cpu
