// Storage: one device buffer (a tensor's memory). Shared (shared_ptr) between the JS handle and
// every queued job that reads or writes it, so dispose() while work is queued is safe: the memory
// goes when the last user does.
//
// A storage can be *pending*: its value will arrive later from another device (cross-device
// copies go through the host without blocking JS). Jobs that read it wait on `wait_ready()`.
// A storage can also carry an *error*: a job that failed marks its outputs, and every later job
// or read that uses them reports that error instead of computing on garbage.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ctxwin/dtype.h"

namespace ctxwin {

class Device;

class Storage {
 public:
  Storage(Device* device, DType dtype, std::vector<int64_t> shape);
  // A view of `base` with another shape (same dtype and element count): shares its memory, keeps
  // it alive, and counts no bytes of its own (reshape is free).
  Storage(std::shared_ptr<Storage> base, std::vector<int64_t> shape);
  // A view of the first product(shape) elements of `base` (at most its element count): a KV
  // cache's filled part, read in place while later writes go past it.
  static std::shared_ptr<Storage> leading_view(std::shared_ptr<Storage> base, std::vector<int64_t> shape);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  Device* device() const { return device_; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t numel() const { return numel_; }
  size_t bytes() const { return bytes_; }
  void* data() { return data_; }
  const void* data() const { return data_; }

  // Pending values (cross-device copies). A view defers to its base.
  void set_pending();
  void set_ready();
  void wait_ready();  // blocks the calling (worker) thread until ready or failed

  // Errors carried from a failed job (a view reports its base's error too).
  void set_error(const std::string& code, const std::string& message);
  bool has_error() const;
  std::string error_code() const;
  std::string error_message() const;

 private:
  Device* device_;
  DType dtype_;
  std::vector<int64_t> shape_;
  int64_t numel_;
  size_t bytes_;
  void* data_ = nullptr;
  std::shared_ptr<Storage> base_;  // set for views
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = true;
  std::string error_code_, error_message_;
};

using StoragePtr = std::shared_ptr<Storage>;

// Live storages and bytes per device kind, for ctxwin.memory().
struct MemoryStats {
  int64_t tensors;
  int64_t bytes;
};
MemoryStats memory_stats(const char* device_name);

}  // namespace ctxwin
