// HostBlockCache: a caching allocator for the CPU device's tensor memory.
//
// Why: a training step or a forward allocates and frees the same large buffers (activations,
// gradients, logits) over and over. Above glibc's mmap threshold each one is a fresh mmap, its
// pages fault in on first touch by the kernels (a page fault per 4 KiB, on the worker threads), and
// free() munmaps them again (on whichever thread drops the last reference, often the JS thread).
// Keeping freed blocks by size class and handing them back saves the syscalls and the faults.
// Measured on this project's 2-core machine, bench/train.mjs runs within ±3% with and without it
// (CTXWIN_CPU_CACHE_MB=0): the gain there is below the noise; the default stays small for that
// reason (RSS a service keeps).
//
// Blocks below kMinCached bytes go straight to aligned_alloc/free (malloc's own bins are fast
// there). Larger sizes are rounded up to a size class (4 classes per power of two: at most 25%
// slack) and cached on free while the cache holds less than its limit (CTXWIN_CPU_CACHE_MB,
// default 256 MiB; 0 disables caching); past it a freed block goes back to the system. An
// allocation that fails empties the cache and retries once. Thread-safe. Fresh blocks are not
// zeroed, cached ones hold old values: kernels write every element of their outputs. With
// CTXWIN_CPU_CACHE_POISON=1 cached blocks are filled with NaN bytes: test/memory_cache.test.ts
// compares a training run that way with one without a cache, and the whole suite passes with it.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace ctxwin {

class HostBlockCache {
 public:
  static constexpr size_t kAlign = 64;
  static constexpr size_t kMinCached = size_t(1) << 16;  // 64 KiB

  // poison: fill every block put in the cache with 0xFF bytes (NaN as floats), so that a kernel
  // that reads its output before writing it shows up in the tests (CTXWIN_CPU_CACHE_POISON=1).
  HostBlockCache(size_t limit_bytes, bool poison) : limit_(limit_bytes), poison_(poison) {}
  ~HostBlockCache() { release_all(); }
  HostBlockCache(const HostBlockCache&) = delete;
  HostBlockCache& operator=(const HostBlockCache&) = delete;

  // The size a request of `bytes` is served with.
  static size_t size_class(size_t bytes) {
    size_t n = (bytes + kAlign - 1) / kAlign * kAlign;
    if (n < kMinCached) return n;
    size_t top = size_t(1) << (8 * sizeof(size_t) - 1 - __builtin_clzl(n));  // highest power of 2 <= n
    size_t step = top / 4;
    return (n + step - 1) / step * step;
  }

  // nullptr when the system is out of memory (after emptying the cache once).
  void* allocate(size_t bytes) {
    const size_t n = size_class(bytes);
    if (n >= kMinCached && limit_ > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(n);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= n;
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlign, n);
    if (!p && cached_bytes() > 0) {
      release_all();
      p = std::aligned_alloc(kAlign, n);
    }
    return p;
  }

  // `bytes` must be what allocate() was asked for.
  void deallocate(void* p, size_t bytes) {
    if (!p) return;
    const size_t n = size_class(bytes);
    if (n >= kMinCached && limit_ > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + n <= limit_) {
        if (poison_) std::memset(p, 0xFF, n);
        free_[n].push_back(p);
        cached_ += n;
        return;
      }
    }
    std::free(p);
  }

  // Gives every cached block back to the system.
  void release_all() {
    std::map<size_t, std::vector<void*>> blocks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks.swap(free_);
      cached_ = 0;
    }
    for (auto& [n, ptrs] : blocks)
      for (void* p : ptrs) std::free(p);
  }

  size_t limit() const { return limit_; }

  size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }

 private:
  const size_t limit_;
  const bool poison_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;  // size class -> free blocks
  size_t cached_ = 0;
};

}  // namespace ctxwin
