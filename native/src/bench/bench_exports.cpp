// Benchmark-only exports of the CPU addon (bench/attention.mjs): the BLAS sgemm ceiling and the
// unfused attention baseline. They run on the CPU queue like every op and resolve a promise.
#include <chrono>
#include <memory>
#include <vector>

#include "bench/blas.h"
#include "bench/unfused_attention.h"
#include "binding/addon_data.h"
#include "binding/js_errors.h"
#include "binding/native_tensor.h"
#include "runtime/device.h"

namespace ctxwin::binding {

namespace {

using Clock = std::chrono::steady_clock;

// Runs `work` on the CPU queue; resolves with the mean milliseconds per iteration.
Napi::Value timed_promise(Napi::Env env, int iters, std::function<void()> work) {
  auto deferred = std::make_shared<Napi::Promise::Deferred>(Napi::Promise::Deferred::New(env));
  AddonData& data = addon_data(env);
  data.begin(env);
  default_device().queue().submit([&data, deferred, iters, work] {
    double ms = 0;
    std::string err;
    try {
      work();  // warm-up
      auto t0 = Clock::now();
      for (int i = 0; i < iters; ++i) work();
      ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / iters;
    } catch (const std::exception& e) {
      err = e.what();
    }
    data.post([deferred, ms, err](Napi::Env env) {
      if (!err.empty()) deferred->Reject(make_js_error(env, "ERR_DEVICE", err).Value());
      else deferred->Resolve(Napi::Number::New(env, ms));
    });
  });
  return deferred->Promise();
}

int int_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].ToNumber().Int32Value(); }

// benchSgemm(M, N, K, iters): Promise<ms per C[M,N] = A[M,K]·B[K,N]>
Napi::Value bench_sgemm_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    int M = int_arg(info, 0), N = int_arg(info, 1), K = int_arg(info, 2), iters = int_arg(info, 3);
    if (!bench::blas().sgemm) throw make_js_error(info.Env(), "ERR_DEVICE", "benchSgemm: " + bench::blas().library);
    auto a = std::make_shared<std::vector<float>>((size_t)M * K);
    auto b = std::make_shared<std::vector<float>>((size_t)K * N);
    auto c = std::make_shared<std::vector<float>>((size_t)M * N);
    for (size_t i = 0; i < a->size(); ++i) (*a)[i] = (float)((i * 2654435761u) % 1000) / 1000.f - 0.5f;
    for (size_t i = 0; i < b->size(); ++i) (*b)[i] = (float)((i * 40503u) % 1000) / 1000.f - 0.5f;
    return timed_promise(info.Env(), iters, [=] {
      bench::blas().sgemm(false, false, M, N, K, 1.f, a->data(), K, b->data(), N, 0.f, c->data(), N);
    });
  });
}

// benchUnfusedAttention(q, k, v, causal, iters): Promise<ms>; f32 [B,T,H,D] tensors.
Napi::Value bench_unfused_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    StoragePtr q = NativeTensor::unwrap(info[0], "benchUnfusedAttention", "q");
    StoragePtr k = NativeTensor::unwrap(info[1], "benchUnfusedAttention", "k");
    StoragePtr v = NativeTensor::unwrap(info[2], "benchUnfusedAttention", "v");
    bool causal = info[3].ToBoolean().Value();
    int iters = int_arg(info, 4);
    if (q->dtype() != DType::F32 || q->shape().size() != 4 || k->shape() != q->shape() || v->shape() != q->shape())
      throw make_js_error(info.Env(), "ERR_SHAPE", "benchUnfusedAttention: expected f32 q, k, v of one shape [B,T,H,D]");
    auto out = std::make_shared<std::vector<float>>((size_t)q->numel());
    const auto& s = q->shape();
    int B = (int)s[0], T = (int)s[1], H = (int)s[2], D = (int)s[3];
    return timed_promise(info.Env(), iters, [=] {
      bench::unfused_attention((const float*)q->data(), (const float*)k->data(), (const float*)v->data(), out->data(),
                               B, T, H, D, causal);
    });
  });
}

Napi::Value blas_info_fn(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), bench::blas().library);
}

}  // namespace

void export_bench_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("benchSgemm", Napi::Function::New(env, bench_sgemm_fn, "benchSgemm"));
  exports.Set("benchUnfusedAttention", Napi::Function::New(env, bench_unfused_fn, "benchUnfusedAttention"));
  exports.Set("blasInfo", Napi::Function::New(env, blas_info_fn, "blasInfo"));
}

}  // namespace ctxwin::binding
