#include "thread_pool.h"

#include <atomic>
#include <cstdlib>
#include <exception>

namespace ctxwin {

struct ThreadPool::Shared {
  std::atomic<int64_t> next{0};
  std::mutex err_mu;
  std::exception_ptr error;
};

ThreadPool::ThreadPool(int num_threads) : num_threads_(num_threads < 1 ? 1 : num_threads) {
  shared_ = new Shared();
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
  delete shared_;
}

static void run_items(ThreadPool::Shared* s, int64_t n, const std::function<void(int64_t, int)>& fn,
                      int index) {
  for (;;) {
    int64_t i = s->next.fetch_add(1, std::memory_order_relaxed);
    if (i >= n) break;
    try {
      fn(i, index);
    } catch (...) {
      std::lock_guard<std::mutex> lock(s->err_mu);
      if (!s->error) s->error = std::current_exception();
      s->next.store(n, std::memory_order_relaxed);  // stop handing out work
    }
  }
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t, int)>* job;
    int64_t n;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
      n = job_n_;
    }
    run_items(shared_, n, *job, index);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--active_ == 0) cv_done_.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int)>& fn) {
  if (n <= 0) return;
  if (num_threads_ == 1 || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  shared_->next.store(0);
  shared_->error = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    job_n_ = n;
    active_ = num_threads_ - 1;
    ++generation_;
  }
  cv_start_.notify_all();
  run_items(shared_, n, fn, 0);
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_done_.wait(lock, [&] { return active_ == 0; });
    job_ = nullptr;
  }
  if (shared_->error) std::rethrow_exception(shared_->error);
}

ThreadPool& ThreadPool::global() {
  static ThreadPool* pool = [] {
    int n = (int)std::thread::hardware_concurrency();
    if (const char* env = std::getenv("CTXWIN_NUM_THREADS")) {
      int v = std::atoi(env);
      if (v > 0) n = v;
    }
    return new ThreadPool(n < 1 ? 1 : n);  // leaked on purpose: workers must outlive static dtors
  }();
  return *pool;
}

}  // namespace ctxwin
