// The CPU Device: 64-byte aligned host memory, one op queue, kernels from native/src/cpu.
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "cpu/attention.h"
#include "cpu/cpu_features.h"
#include "cpu/ops/kernels.h"
#include "ctxwin/error.h"
#include "runtime/device.h"
#include "runtime/host_block_cache.h"
#include "runtime/thread_pool.h"

namespace ctxwin {

namespace {

class CpuDevice final : public Device {
 public:
  CpuDevice() : queue_("cpu") {}
  const char* name() const override { return "cpu"; }
  DeviceQueue& queue() override { return queue_; }

  void* allocate(size_t bytes) override {
    void* p = blocks_.allocate(bytes);
    if (!p) fail("ERR_MEMORY", "cpu: out of memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
  void deallocate(void* ptr, size_t bytes) override { blocks_.deallocate(ptr, bytes); }

  void upload_f32(Storage& dst, const float* src) override {
    from_f32(dst.dtype(), src, dst.data(), (size_t)dst.numel());
  }
  void download_f32(const Storage& src, float* dst) override {
    to_f32(src.dtype(), src.data(), dst, (size_t)src.numel());
  }
  void cast(const Storage& src, Storage& dst) override {
    if (src.dtype() == dst.dtype()) {
      std::memcpy(dst.data(), src.data(), src.bytes());
      return;
    }
    std::vector<float> tmp((size_t)src.numel());
    to_f32(src.dtype(), src.data(), tmp.data(), tmp.size());
    from_f32(dst.dtype(), tmp.data(), dst.data(), tmp.size());
  }
  void axpby(float alpha, const Storage& a, float beta, const Storage* b, Storage& dst) override {
    size_t n = (size_t)a.numel();
    std::vector<float> x(n), y;
    to_f32(a.dtype(), a.data(), x.data(), n);
    if (b) {
      y.resize(n);
      to_f32(b->dtype(), b->data(), y.data(), n);
      for (size_t i = 0; i < n; ++i) x[i] = alpha * x[i] + beta * y[i];
    } else {
      for (size_t i = 0; i < n; ++i) x[i] = alpha * x[i];
    }
    from_f32(dst.dtype(), x.data(), dst.data(), n);
  }

  void attention_forward(AttentionParams& prm, const ResolvedPositional& pos) override {
    bind_positional(prm, pos, prm.pos_type);
    cpu::attention_forward(prm);
  }
  void attention_backward(AttentionBwdParams& prm, const ResolvedPositional& pos) override {
    bind_positional(prm, pos, prm.pos_type);
    cpu::attention_backward(prm);
  }
  void attention_forward_many(AttentionParams* const* prms, const ResolvedPositional* const* pos, int n) override {
    for (int i = 0; i < n; ++i) bind_positional(*prms[i], *pos[i], prms[i]->pos_type);
    cpu::attention_forward_many(prms, n);
  }

  std::string select_variant(const std::string& name) override {
    // Wait for queued kernels: they must not see the variant change under them.
    queue_.wait_idle();
    cpu::set_cpu_isa_override(name == "auto" ? nullptr : name.c_str());
    return cpu::attention_isa();
  }

  std::string describe() override {
    const cpu::CpuFeatures& f = cpu::cpu_features();
    std::ostringstream s;
    s << "{\"isa\":\"" << cpu::attention_isa() << "\",\"threads\":" << ThreadPool::global().size()
      << ",\"features\":{\"avx2\":" << (f.avx2 ? "true" : "false")
      << ",\"fma\":" << (f.fma ? "true" : "false") << ",\"f16c\":" << (f.f16c ? "true" : "false")
      << ",\"avx512f\":" << (f.avx512f ? "true" : "false") << "}"
      << ",\"memoryCacheLimitBytes\":" << blocks_.limit() << ",\"memoryCachedBytes\":" << blocks_.cached_bytes() << "}";
    return s.str();
  }

 private:
  // CTXWIN_CPU_CACHE_MB: most MiB of freed tensor memory kept for reuse (default 256; 0: none).
  static size_t cache_limit() {
    const char* v = std::getenv("CTXWIN_CPU_CACHE_MB");
    if (!v || !*v) return size_t(256) << 20;
    char* end = nullptr;
    double mb = std::strtod(v, &end);
    if (end == v || *end != '\0' || !(mb >= 0) || mb > 1e9) return size_t(256) << 20;  // unreadable: the default (doctor shows the limit in effect)
    return (size_t)(mb * 1048576.0);
  }
  static bool cache_poison() {
    const char* v = std::getenv("CTXWIN_CPU_CACHE_POISON");
    return v && *v && std::strcmp(v, "0") != 0;
  }
  HostBlockCache blocks_{cache_limit(), cache_poison()};
  DeviceQueue queue_;
};

}  // namespace

void register_device_kernels() { cpu::register_all_cpu_kernels(); }

Device& default_device() {
  static CpuDevice* device = new CpuDevice();  // leaked: its queue thread must outlive exit paths
  return *device;
}

}  // namespace ctxwin
