#include "runtime/device_queue.h"

namespace ctxwin {

DeviceQueue::DeviceQueue(const char* name) : name_(name) {
  worker_ = std::thread([this] { loop(); });
}

DeviceQueue::~DeviceQueue() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void DeviceQueue::submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_work_.notify_one();
}

void DeviceQueue::wait_idle() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_idle_.wait(lock, [&] { return jobs_.empty() && !running_job_; });
}

size_t DeviceQueue::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size() + (running_job_ ? 1 : 0);
}

void DeviceQueue::loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_work_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stop requested and drained
      job = std::move(jobs_.front());
      jobs_.pop_front();
      running_job_ = true;
    }
    try {
      job();
    } catch (...) {
      // Jobs report errors through their output storages; anything escaping is contained here
      // rather than terminating the process.
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_job_ = false;
      if (jobs_.empty()) cv_idle_.notify_all();
    }
  }
}

}  // namespace ctxwin
