// Device: what a backend (CPU or CUDA) provides to the binding. The binding code is shared by
// both addons; each addon links exactly one Device implementation (cpu_device.cpp or the CUDA
// one) and returns it from default_device().
//
// Thread rules: allocate()/deallocate() may be called from any thread; every other method runs
// on the device queue's worker thread, inside a job.
#pragma once
#include <string>

#include "ctxwin/attention_params.h"
#include "ctxwin/positional.h"
#include "runtime/device_queue.h"
#include "runtime/storage.h"

namespace ctxwin {

class Device {
 public:
  virtual ~Device() = default;
  virtual const char* name() const = 0;  // "cpu" or "cuda"
  virtual DeviceQueue& queue() = 0;

  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr, size_t bytes) = 0;

  // Host f32 <-> device storage in its own dtype (rounding to nearest even for half types).
  virtual void upload_f32(Storage& dst, const float* src) = 0;
  virtual void download_f32(const Storage& src, float* dst) = 0;
  // Elementwise: dst = cast(src) (dtypes may differ, shapes equal).
  virtual void cast(const Storage& src, Storage& dst) = 0;
  // Elementwise: dst = alpha * a + beta * b (b may be null: dst = alpha * a). Same shapes.
  virtual void axpby(float alpha, const Storage& a, float beta, const Storage* b, Storage& dst) = 0;

  // Attention. `prm` has shapes/options and tensor pointers filled; `pos` holds the resolved
  // positional arrays in host memory (the device binds or uploads them).
  virtual void attention_forward(AttentionParams& prm, const ResolvedPositional& pos) = 0;
  // Many independent forwards (one per sequence of a batching engine's step); the default runs
  // them one after the other.
  virtual void attention_forward_many(AttentionParams* const* prms, const ResolvedPositional* const* pos, int n) {
    for (int i = 0; i < n; ++i) attention_forward(*prms[i], *pos[i]);
  }
  virtual void attention_backward(AttentionBwdParams& prm, const ResolvedPositional& pos) = 0;

  // Text for `ctxwin doctor` / backendInfo(): ISA, threads, device name...
  virtual std::string describe() = 0;
  // Blocks until all submitted device work (kernels) is complete (after the queue drains).
  virtual void synchronize() {}
  // Selects a kernel variant (CPU: "generic", "avx2", "avx512" or "auto"; a variant the machine
  // cannot run falls back to the best it can) and returns the one now active. Takes effect for
  // ops submitted afterwards. For tests and benchmarks.
  virtual std::string select_variant(const std::string& name) { (void)name; return ""; }
  // Checks that the device can run work (CUDA: driver, device, a real kernel launch); throws
  // ctxwin::Error("ERR_CUDA", reason) otherwise. Called on the JS thread once, at load.
  virtual void probe() {}
};

// The device of this addon.
Device& default_device();

}  // namespace ctxwin
