// CUDA kernel of matmul (native/src/ops/matmul.cpp): out = alpha * op(a) * op(b) + beta * c,
// accumulated in f32, with the CPU kernel's conventions (cpu/ops/matmul.cpp): beta == 0 ignores
// c, K == 0 gives beta * c (or zeros), and the output takes a's dtype.
//
// Backend: cuBLAS (cublasGemmEx, loaded at run time by cublas_loader.cpp) when it loaded and a
// and b share a dtype (the output's); otherwise, or with CTXWIN_CUBLAS=0, the library-free
// kernels of gemm_fallback.cu. cuBLAS sees the row-major product as its column-major transpose:
// out^T [N,M] = op(b)^T op(a)^T, so b is its first operand and no data moves. c is folded in by
// cuBLAS's beta after copying it into the output (exact when c's dtype is the output's, or the
// output is f32); a half-type output with a c of another dtype goes through an f32 buffer and is
// rounded once at the end, as the CPU kernel does.
#include <climits>

#include "cuda/cuda_check.h"
#include "cuda/cuda_device.h"
#include "cuda/cuda_kernels.h"
#include "cuda/ops/cublas_loader.h"
#include "cuda/ops/gemm.h"
#include "cuda/ops/kernels.h"

namespace ctxwin::cuda {

namespace {

int cuda_data_type(DType t) {
  switch (t) {
    case DType::F32: return cublas::kR32F;
    case DType::BF16: return cublas::kR16BF;
    case DType::F16: return cublas::kR16F;
  }
  return cublas::kR32F;
}

// Runs p with cuBLAS; false (nothing written that matters) when cuBLAS is unavailable, cannot take
// these dtypes or sizes, or fails: the caller then runs the fallback.
bool gemm_cublas(const GemmProblem& p, cudaStream_t stream) {
  if (p.a_dtype != p.b_dtype || p.a_dtype != p.d_dtype) return false;
  if (p.M > INT_MAX || p.N > INT_MAX || p.K > INT_MAX) return false;
  const cublas::Api* api = cublas::api();
  if (!api) return false;

  const int m = (int)p.N, n = (int)p.M, k = (int)p.K;  // the column-major product out^T = op(b)^T op(a)^T
  const int op_b = p.trans_b ? cublas::kOpT : cublas::kOpN, ldb = p.trans_b ? k : m;
  const int op_a = p.trans_a ? cublas::kOpT : cublas::kOpN, lda = p.trans_a ? n : k;
  const int ab_type = cuda_data_type(p.a_dtype);
  const size_t count = (size_t)(p.M * p.N);
  const float alpha = p.alpha;
  float beta = p.c ? p.beta : 0.f;

  // Where cuBLAS accumulates: the output itself, or (half output, c of another dtype) f32 scratch.
  const bool via_f32 = p.c && p.c_dtype != p.d_dtype && p.d_dtype != DType::F32;
  DeviceScratch scratch(via_f32 ? count * sizeof(float) : 0);
  void* target = via_f32 ? scratch.ptr : p.d;
  const DType target_dtype = via_f32 ? DType::F32 : p.d_dtype;
  if (p.c) {
    if (p.c_dtype == target_dtype)
      check_cuda(cudaMemcpyAsync(target, p.c, count * dtype_size(target_dtype), cudaMemcpyDeviceToDevice, stream),
                 "cudaMemcpyAsync (matmul c)");
    else
      launch_cast(p.c_dtype, p.c, target_dtype, target, count, stream);  // widening to f32: exact
  }
  const cublas::Status st =
      api->gemm_ex(api->handle, op_b, op_a, m, n, k, &alpha, p.b, ab_type, ldb, p.a, ab_type, lda, &beta, target,
                   cuda_data_type(target_dtype), m, cublas::kCompute32F, cublas::kGemmDefault);
  if (st != cublas::kStatusSuccess) {
    (void)cudaGetLastError();
    cublas::note_gemm_failure(st, p.M, p.N, p.K);
    return false;
  }
  if (via_f32) launch_from_f32(static_cast<const float*>(target), p.d_dtype, p.d, count, stream);
  return true;
}

void matmul_kernel(OpContext& c) {
  const Storage& a = *c.in[0];
  const Storage& b = *c.in[1];
  const Storage* cin = c.in.size() > 2 ? c.in[2] : nullptr;
  Storage& out = *c.out[0];
  const bool ta = c.attrs.flag("transA"), tb = c.attrs.flag("transB");
  const float alpha = (float)c.attrs.num("alpha", 1.0);
  float beta = cin ? (float)c.attrs.num("beta", 1.0) : 0.f;
  const int64_t last = a.shape().back();
  int64_t lead = 1;  // from the shape: a may have no elements
  for (size_t i = 0; i + 1 < a.shape().size(); ++i) lead *= a.shape()[i];
  const int64_t M = ta ? last : lead, K = ta ? lead : last;
  const int64_t N = tb ? b.shape()[0] : b.shape()[1];
  if (!cin || beta == 0.f) {  // as the CPU kernel: c is not read at all (NaNs in it do not leak)
    cin = nullptr;
    beta = 0.f;
  }
  if (M == 0 || N == 0) return;
  cudaStream_t stream = device_stream();
  const size_t count = (size_t)(M * N);
  if (K == 0) {
    if (cin)
      launch_axpby(beta, cin->dtype(), cin->data(), 0.f, DType::F32, nullptr, out.dtype(), out.data(), count, stream);
    else
      check_cuda(cudaMemsetAsync(out.data(), 0, count * dtype_size(out.dtype()), stream),
                 "cudaMemsetAsync (matmul)");  // all-zero bits are +0 in every dtype
    return;
  }

  GemmProblem p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.a = a.data();
  p.a_dtype = a.dtype();
  p.trans_a = ta;
  p.b = b.data();
  p.b_dtype = b.dtype();
  p.trans_b = tb;
  p.alpha = alpha;
  p.beta = beta;
  p.c = cin ? cin->data() : nullptr;
  p.c_dtype = cin ? cin->dtype() : DType::F32;
  p.d = out.data();
  p.d_dtype = out.dtype();
  if (gemm_cublas(p, stream)) return;
  gemm_fallback(p, stream);
}

}  // namespace

void register_matmul_kernels() { register_kernel("cuda", "matmul", matmul_kernel); }

}  // namespace ctxwin::cuda
