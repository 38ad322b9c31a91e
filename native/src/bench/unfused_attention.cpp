#include "bench/unfused_attention.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "bench/blas.h"
#include "ctxwin/error.h"
#include "runtime/thread_pool.h"

namespace ctxwin::bench {

void unfused_attention(const float* q, const float* k, const float* v, float* o, int B, int T, int H, int D,
                       bool causal) {
  const Blas& b = blas();
  if (!b.sgemm) fail("ERR_DEVICE", "unfused attention baseline: " + b.library);
  float scale = 1.0f / std::sqrt((float)D);
  int ld = H * D;  // row stride of [B,T,H,D] viewed per head as [T, D] with leading dim H*D
  // One head at a time, BLAS threads inside (as a framework would run it).
  std::vector<float> S((size_t)T * T);
  for (int bi = 0; bi < B; ++bi) {
    for (int h = 0; h < H; ++h) {
      size_t off = (size_t)bi * T * ld + (size_t)h * D;
      b.sgemm(false, true, T, T, D, scale, q + off, ld, k + off, ld, 0.f, S.data(), T);
      for (int i = 0; i < T; ++i) {
        float* row = S.data() + (size_t)i * T;
        int n = causal ? i + 1 : T;
        float m = -INFINITY;
        for (int j = 0; j < n; ++j) m = row[j] > m ? row[j] : m;
        float sum = 0.f;
        for (int j = 0; j < n; ++j) {
          row[j] = std::exp(row[j] - m);
          sum += row[j];
        }
        float inv = 1.f / sum;
        for (int j = 0; j < n; ++j) row[j] *= inv;
        for (int j = n; j < T; ++j) row[j] = 0.f;
      }
      b.sgemm(false, false, T, D, T, 1.f, S.data(), T, v + off, ld, 0.f, o + off, ld);
    }
  }
}

}  // namespace ctxwin::bench
