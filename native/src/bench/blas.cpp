#include "bench/blas.h"

#include <dlfcn.h>

namespace ctxwin::bench {

namespace {

enum { kRowMajor = 101, kNoTrans = 111, kTrans = 112 };
using CblasSgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float,
                            float*, int);
CblasSgemm g_cblas = nullptr;

void call_cblas(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                int ldb, float beta, float* C, int ldc) {
  g_cblas(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

Blas load() {
  Blas b;
  const char* candidates[] = {"libopenblas.so.0", "libopenblas.so", "libmkl_rt.so", "libmkl_rt.so.2",
                              "libblis.so.4",     "libblis.so",     "libcblas.so.3", "libblas.so.3",
                              "libopenblas.dylib", "/System/Library/Frameworks/Accelerate.framework/Accelerate"};
  for (const char* name : candidates) {
    void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    void* sym = dlsym(h, "cblas_sgemm");
    if (!sym) {
      dlclose(h);
      continue;
    }
    g_cblas = (CblasSgemm)sym;
    b.sgemm = call_cblas;
    b.library = name;
    return b;
  }
  b.library = "no BLAS with cblas_sgemm found (install e.g. libopenblas0 for the sgemm ceiling)";
  return b;
}

}  // namespace

const Blas& blas() {
  static Blas b = load();
  return b;
}

}  // namespace ctxwin::bench
