// CPU kernels of rmsnorm / layernorm and their backwards (native/src/ops/norms.cpp): rows in
// chunks over the thread pool; parameter gradients as per-chunk partial sums added in chunk
// order (deterministic).
#include <cstring>

#include "cpu/ops/kernels.h"

namespace ctxwin::cpu {

namespace {

// dst[j] = sum over chunks of partial[c][j] (in chunk order).
void reduce_partials(const std::vector<float>& partial, int64_t chunks, int64_t d, float* dst) {
  std::memcpy(dst, partial.data(), (size_t)d * 4);
  for (int64_t c = 1; c < chunks; ++c) row_kernels().acc(partial.data() + c * d, dst, d);
}

void rmsnorm_kernel(OpContext& c) {
  const Storage& x = *c.in[0];
  const Storage& w = *c.in[1];
  Storage& y = *c.out[0];
  float* rstd = (float*)c.out[1]->data();
  float eps = (float)c.attrs.num("eps", 1e-6);
  int64_t d = x.shape().back(), rows = x.numel() / d;
  std::vector<float> wf = read_f32(w);
  const RowKernels& rk = row_kernels();
  int64_t chunks = chunk_count(rows, d);
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(rows, chunks, ch, &lo, &hi);
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = in_f32(x, r * d, d, 0);
      float* yr = out_f32(y, r * d, d, 1);
      rstd[r] = rk.rmsnorm_fwd(xr, wf.data(), yr, d, eps);
      commit_f32(y, r * d, d, yr);
    }
  });
}

void rmsnorm_backward_kernel(OpContext& c) {
  const Storage& dy = *c.in[0];
  const Storage& x = *c.in[1];
  const Storage& w = *c.in[2];
  const float* rstd = (const float*)c.in[3]->data();
  Storage& dx = *c.out[0];
  float* dw = (float*)c.out[1]->data();
  int64_t d = x.shape().back(), rows = x.numel() / d;
  std::vector<float> wf = read_f32(w);
  const RowKernels& rk = row_kernels();
  int64_t chunks = chunk_count(rows, d);
  std::vector<float> partial((size_t)(chunks * d), 0.f);
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(rows, chunks, ch, &lo, &hi);
    float* dw_acc = partial.data() + ch * d;
    for (int64_t r = lo; r < hi; ++r) {
      const float* dyr = in_f32(dy, r * d, d, 0);
      const float* xr = in_f32(x, r * d, d, 1);
      float* dxr = out_f32(dx, r * d, d, 2);
      rk.rmsnorm_bwd(dyr, xr, wf.data(), rstd[r], dxr, dw_acc, d);
      commit_f32(dx, r * d, d, dxr);
    }
  });
  if (rows == 0) std::memset(dw, 0, (size_t)d * 4);
  else reduce_partials(partial, chunks, d, dw);
}

void layernorm_kernel(OpContext& c) {
  const Storage& x = *c.in[0];
  const Storage& w = *c.in[1];
  const Storage* b = c.in.size() > 2 ? c.in[2] : nullptr;
  Storage& y = *c.out[0];
  float* mean = (float*)c.out[1]->data();
  float* rstd = (float*)c.out[2]->data();
  float eps = (float)c.attrs.num("eps", 1e-5);
  int64_t d = x.shape().back(), rows = x.numel() / d;
  std::vector<float> wf = read_f32(w), bf;
  if (b) bf = read_f32(*b);
  const RowKernels& rk = row_kernels();
  int64_t chunks = chunk_count(rows, d);
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(rows, chunks, ch, &lo, &hi);
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = in_f32(x, r * d, d, 0);
      float* yr = out_f32(y, r * d, d, 1);
      rk.layernorm_fwd(xr, wf.data(), b ? bf.data() : nullptr, yr, d, eps, mean + r, rstd + r);
      commit_f32(y, r * d, d, yr);
    }
  });
}

void layernorm_backward_kernel(OpContext& c) {
  const Storage& dy = *c.in[0];
  const Storage& x = *c.in[1];
  const Storage& w = *c.in[2];
  const float* mean = (const float*)c.in[3]->data();
  const float* rstd = (const float*)c.in[4]->data();
  Storage& dx = *c.out[0];
  float* dw = (float*)c.out[1]->data();
  float* db = (float*)c.out[2]->data();
  int64_t d = x.shape().back(), rows = x.numel() / d;
  std::vector<float> wf = read_f32(w);
  const RowKernels& rk = row_kernels();
  int64_t chunks = chunk_count(rows, d);
  std::vector<float> pw((size_t)(chunks * d), 0.f), pb((size_t)(chunks * d), 0.f);
  parallel_chunks(chunks, [&](int64_t ch, int) {
    int64_t lo, hi;
    chunk_range(rows, chunks, ch, &lo, &hi);
    for (int64_t r = lo; r < hi; ++r) {
      const float* dyr = in_f32(dy, r * d, d, 0);
      const float* xr = in_f32(x, r * d, d, 1);
      float* dxr = out_f32(dx, r * d, d, 2);
      rk.layernorm_bwd(dyr, xr, wf.data(), mean[r], rstd[r], dxr, pw.data() + ch * d, pb.data() + ch * d, d);
      commit_f32(dx, r * d, d, dxr);
    }
  });
  if (rows == 0) {
    std::memset(dw, 0, (size_t)d * 4);
    std::memset(db, 0, (size_t)d * 4);
  } else {
    reduce_partials(pw, chunks, d, dw);
    reduce_partials(pb, chunks, d, db);
  }
}

}  // namespace

void register_norm_kernels() {
  register_kernel("cpu", "rmsnorm", rmsnorm_kernel);
  register_kernel("cpu", "rmsnorm_backward", rmsnorm_backward_kernel);
  register_kernel("cpu", "layernorm", layernorm_kernel);
  register_kernel("cpu", "layernorm_backward", layernorm_backward_kernel);
}

}  // namespace ctxwin::cpu
