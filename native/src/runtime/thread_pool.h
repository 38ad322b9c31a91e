// A fixed pool of worker threads for data-parallel kernels (sized to the machine unless
// CTXWIN_NUM_THREADS says otherwise). Kernels call parallel_for from the device queue's worker
// thread; the calling thread takes part in the work.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ctxwin {

class ThreadPool {
 public:
  struct Shared;
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }

  // Runs fn(i, thread_index) for every i in [0, n), items handed out dynamically (an atomic
  // counter), thread_index in [0, size()). Blocks until all are done. Exceptions thrown by fn are
  // rethrown here (the first one). Not reentrant: call from one thread at a time.
  void parallel_for(int64_t n, const std::function<void(int64_t i, int thread_index)>& fn);

  // The process-wide CPU pool.
  static ThreadPool& global();

 private:
  void worker_loop(int index);
  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_, cv_done_;
  const std::function<void(int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;
  uint64_t generation_ = 0;
  int active_ = 0;
  bool stop_ = false;
  Shared* shared_;
};

}  // namespace ctxwin
