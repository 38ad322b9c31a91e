// DeviceQueue: the per-device op queue. One worker thread runs jobs in submission order, so a
// job sees the results of every job submitted before it (that is the only ordering ctxwin needs:
// JS submits ops in program order). Kernels inside a job fan out over the ThreadPool (CPU) or a
// stream (CUDA). JS never waits on this queue except in dataSync().
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace ctxwin {

class DeviceQueue {
 public:
  explicit DeviceQueue(const char* name);
  ~DeviceQueue();
  DeviceQueue(const DeviceQueue&) = delete;
  DeviceQueue& operator=(const DeviceQueue&) = delete;

  // Jobs must not throw (wrap them with run_op in ops.h); a job that does is contained.
  void submit(std::function<void()> job);
  // Blocks until every job submitted so far has run.
  void wait_idle();
  size_t pending() const;

 private:
  void loop();
  std::string name_;
  mutable std::mutex mu_;
  std::condition_variable cv_work_, cv_idle_;
  std::deque<std::function<void()>> jobs_;
  bool running_job_ = false;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace ctxwin
