// cuBLAS, loaded at run time (cublas_loader.cpp): the addon neither links cuBLAS nor includes
// its headers, because the toolkits that build it may not ship cuBLAS. The few entry points the
// GEMM needs are declared here with their C ABI; enum parameters are passed as int (C enums are
// int-sized on every platform CUDA supports).
//
// Values below are copied from NVIDIA's headers, cuBLAS 13.4 cublas_api.h (as stored in
// github.com/wesleyrparsons/WesChat12, cublas_api.h) and CUDA 13.0 library_types.h
// (/usr/local/cuda/include on the build machine):
//   cublasStatus_t      CUBLAS_STATUS_SUCCESS = 0, NOT_INITIALIZED = 1, ALLOC_FAILED = 3,
//                       INVALID_VALUE = 7, ARCH_MISMATCH = 8, MAPPING_ERROR = 11,
//                       EXECUTION_FAILED = 13, INTERNAL_ERROR = 14, NOT_SUPPORTED = 15,
//                       LICENSE_ERROR = 16
//   cublasOperation_t   CUBLAS_OP_N = 0, CUBLAS_OP_T = 1
//   cudaDataType_t      CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14
//   cublasComputeType_t CUBLAS_COMPUTE_32F = 68 ("float - default": no TF32 unless the math mode
//                       or NVIDIA_TF32_OVERRIDE asks for it)
//   cublasGemmAlgo_t    CUBLAS_GEMM_DEFAULT = -1
//   cublasMath_t        CUBLAS_DEFAULT_MATH = 0,
//                       CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16
// and the prototypes (cublas_api.h): cublasCreate_v2(cublasHandle_t*),
// cublasDestroy_v2(handle), cublasGetVersion_v2(handle, int*), cublasSetStream_v2(handle,
// cudaStream_t), cublasSetMathMode(handle, cublasMath_t), and cublasGemmEx(handle, transa,
// transb, int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype, int lda,
// const void* B, cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype,
// int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo).
#pragma once
#include <cuda_runtime.h>

#ifdef _WIN32
#define CTXWIN_CUBLASAPI __stdcall
#else
#define CTXWIN_CUBLASAPI
#endif

namespace ctxwin::cuda::cublas {

struct Context;  // cublasContext, opaque
using Handle = Context*;
using Status = int;

constexpr Status kStatusSuccess = 0;
constexpr int kOpN = 0, kOpT = 1;
constexpr int kR32F = 0, kR16F = 2, kR16BF = 14;
constexpr int kCompute32F = 68;
constexpr int kGemmDefault = -1;
constexpr int kDefaultMath = 0;
constexpr int kDisallowReducedPrecisionReduction = 16;

using CreateFn = Status(CTXWIN_CUBLASAPI*)(Handle*);
using DestroyFn = Status(CTXWIN_CUBLASAPI*)(Handle);
using GetVersionFn = Status(CTXWIN_CUBLASAPI*)(Handle, int*);
using SetStreamFn = Status(CTXWIN_CUBLASAPI*)(Handle, cudaStream_t);
using SetMathModeFn = Status(CTXWIN_CUBLASAPI*)(Handle, int);
using GemmExFn = Status(CTXWIN_CUBLASAPI*)(Handle, int transa, int transb, int m, int n, int k, const void* alpha,
                                           const void* A, int Atype, int lda, const void* B, int Btype, int ldb,
                                           const void* beta, void* C, int Ctype, int ldc, int compute_type, int algo);

// The loaded library: entry points and one handle bound to device_stream().
struct Api {
  GemmExFn gemm_ex = nullptr;
  Handle handle = nullptr;
};

// cuBLAS for this process, or null when it is disabled (CTXWIN_CUBLAS=0) or cannot be loaded or
// initialised; the reason is then in gemm_backend_name(). The first call loads the library and
// creates the handle (never destroyed: it is leaked on purpose, since tearing cuBLAS down from a
// static destructor can run after the CUDA runtime is gone). Call only from the device queue's
// thread, the one thread that launches kernels.
const Api* api();

// Records the first failed cublasGemmEx (the caller then falls back to gemm_fallback) so that
// gemm_backend_name() shows it.
void note_gemm_failure(Status status, long long M, long long N, long long K);

}  // namespace ctxwin::cuda::cublas
