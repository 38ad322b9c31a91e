// A growable 64-byte aligned float buffer (uninitialised), reused across kernel calls so that
// large scratch does not page-fault in again on every call.
#pragma once
#include <cstddef>
#include <new>

namespace ctxwin::cpu {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { release(); }

  // At least n floats; previous contents are not kept.
  float* reserve(size_t n) {
    if (n > capacity_) {
      release();
      data_ = static_cast<float*>(::operator new(n * sizeof(float), std::align_val_t(64)));
      capacity_ = n;
    }
    return data_;
  }
  void release() {
    if (data_) ::operator delete(data_, std::align_val_t(64));
    data_ = nullptr;
    capacity_ = 0;
  }
  size_t capacity() const { return capacity_; }

 private:
  float* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace ctxwin::cpu
