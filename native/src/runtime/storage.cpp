#include "runtime/storage.h"

#include <atomic>
#include <cstring>

#include "ctxwin/error.h"
#include "runtime/device.h"

namespace ctxwin {

namespace {
struct Counters {
  std::atomic<int64_t> tensors{0};
  std::atomic<int64_t> bytes{0};
};
Counters& counters() {
  static Counters* c = new Counters();  // one addon = one device kind
  return *c;
}
int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail("ERR_SHAPE", "shape: expected non-negative dims");
    n *= d;
  }
  return n;
}
}  // namespace

Storage::Storage(Device* device, DType dtype, std::vector<int64_t> shape)
    : device_(device), dtype_(dtype), shape_(std::move(shape)) {
  numel_ = product(shape_);
  bytes_ = (size_t)numel_ * dtype_size(dtype_);
  if (bytes_ > 0) data_ = device_->allocate(bytes_);
  counters().tensors++;
  counters().bytes += (int64_t)bytes_;
}

Storage::Storage(std::shared_ptr<Storage> base, std::vector<int64_t> shape)
    : device_(base->device_), dtype_(base->dtype_), shape_(std::move(shape)), base_(std::move(base)) {
  numel_ = product(shape_);
  if (numel_ != base_->numel_) fail("ERR_SHAPE", "reshape: shape: expected " + std::to_string(base_->numel_) + " elements, got " + std::to_string(numel_));
  bytes_ = base_->bytes_;
  data_ = base_->data_;
}

std::shared_ptr<Storage> Storage::leading_view(std::shared_ptr<Storage> base, std::vector<int64_t> shape) {
  const int64_t n = product(shape);
  if (n > base->numel_)
    fail("ERR_SHAPE", "leadingView: shape: expected at most " + std::to_string(base->numel_) + " elements, got " + std::to_string(n));
  // Built as a same-size view, then narrowed: the constructor's checks stay in one place.
  auto v = std::make_shared<Storage>(base, base->shape_);
  v->shape_ = std::move(shape);
  v->numel_ = n;
  v->bytes_ = (size_t)n * dtype_size(v->dtype_);
  return v;
}

Storage::~Storage() {
  if (base_) return;  // a view owns nothing
  if (data_) device_->deallocate(data_, bytes_);
  counters().tensors--;
  counters().bytes -= (int64_t)bytes_;
}

void Storage::set_pending() {
  std::lock_guard<std::mutex> lock(mu_);
  ready_ = false;
}

void Storage::set_ready() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready_ = true;
  }
  cv_.notify_all();
}

void Storage::wait_ready() {
  if (base_) base_->wait_ready();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return ready_; });
}

void Storage::set_error(const std::string& code, const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_code_.empty()) {
      error_code_ = code;
      error_message_ = message;
    }
    ready_ = true;
  }
  cv_.notify_all();
}

bool Storage::has_error() const {
  if (base_ && base_->has_error()) return true;
  std::lock_guard<std::mutex> lock(mu_);
  return !error_code_.empty();
}
std::string Storage::error_code() const {
  if (base_ && base_->has_error()) return base_->error_code();
  std::lock_guard<std::mutex> lock(mu_);
  return error_code_;
}
std::string Storage::error_message() const {
  if (base_ && base_->has_error()) return base_->error_message();
  std::lock_guard<std::mutex> lock(mu_);
  return error_message_;
}

MemoryStats memory_stats(const char*) {
  return MemoryStats{counters().tensors.load(), counters().bytes.load()};
}

}  // namespace ctxwin
