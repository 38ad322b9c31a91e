// Dispatch of the CPU attention kernels: picks the SIMD build, builds the plan, runs the work
// items on the thread pool. Portable code only (see attention_kernels.h for why).
#include "cpu/attention.h"

#include <memory>
#include <mutex>
#include <vector>

#include "cpu/attention_plan.h"
#include "cpu/cpu_features.h"
#include "runtime/thread_pool.h"

namespace ctxwin::cpu {

namespace {

// One call at a time: ThreadPool::parallel_for is not reentrant, and the workspace is shared.
std::mutex g_call_mu;
// Never destroyed: a queued kernel may still be using it while the process exits (a static
// destructor would free it under the running kernel).
AlignedBuffer& g_workspace = *new AlignedBuffer();
AttentionTuning g_tuning;

// Keep a big workspace only while it is modest; a huge one is returned after the call.
constexpr size_t kKeepWorkspaceFloats = size_t(64) << 20;  // 256 MiB

void release_if_large() {
  if (g_workspace.capacity() > kKeepWorkspaceFloats) g_workspace.release();
}

template <class Fn>
void run_items(ThreadPool& pool, int64_t n, Fn&& fn) {
  pool.parallel_for(n, [&](int64_t i, int thread) { fn(i, thread); });
}

}  // namespace

const AttentionKernels& active_attention_kernels() {
#if defined(CTXWIN_CPU_X86_BUILDS)
  switch (active_cpu_isa()) {
    case CpuIsa::Avx512: return attention_kernels_avx512();
    case CpuIsa::Avx2: return attention_kernels_avx2();
    case CpuIsa::Generic: break;
  }
#endif
  return attention_kernels_generic();
}

const char* attention_isa() { return active_attention_kernels().isa; }

void set_attention_tuning(const AttentionTuning& t) {
  std::lock_guard<std::mutex> lock(g_call_mu);
  g_tuning = t;
}
AttentionTuning attention_tuning() {
  std::lock_guard<std::mutex> lock(g_call_mu);
  return g_tuning;
}

void attention_forward(const AttentionParams& p) {
  check_attention_params(p, nullptr);
  std::lock_guard<std::mutex> lock(g_call_mu);
  const AttentionKernels& k = active_attention_kernels();
  ThreadPool& pool = ThreadPool::global();
  {
    PlanStorage storage(p, nullptr, k, g_tuning, pool.size(), g_workspace);
    const FlashPlan& pl = storage.plan();
    run_items(pool, (int64_t)pl.B * pl.Hkv * pl.num_kb, [&](int64_t i, int t) { k.forward_prepare_kv(pl, i, t); });
    run_items(pool, (int64_t)pl.B * pl.Hq * pl.num_qb, [&](int64_t i, int t) { k.forward_query_block(pl, i, t); });
  }
  release_if_large();
}

void attention_forward_many(const AttentionParams* const* calls, int n) {
  for (int i = 0; i < n; ++i) check_attention_params(*calls[i], nullptr);
  std::lock_guard<std::mutex> lock(g_call_mu);
  const AttentionKernels& k = active_attention_kernels();
  ThreadPool& pool = ThreadPool::global();
  // one workspace per pool thread, kept between calls (small: one sequence's keys each)
  // (never destroyed, like g_workspace: a queued kernel may run while the process exits)
  static std::vector<std::unique_ptr<AlignedBuffer>>& spaces = *new std::vector<std::unique_ptr<AlignedBuffer>>();
  while ((int)spaces.size() < pool.size()) spaces.push_back(std::make_unique<AlignedBuffer>());
  pool.parallel_for(n, [&](int64_t i, int thread) {
    PlanStorage storage(*calls[i], nullptr, k, g_tuning, 1, *spaces[thread]);
    const FlashPlan& pl = storage.plan();
    for (int64_t j = 0, m = (int64_t)pl.B * pl.Hkv * pl.num_kb; j < m; ++j) k.forward_prepare_kv(pl, j, 0);
    for (int64_t j = 0, m = (int64_t)pl.B * pl.Hq * pl.num_qb; j < m; ++j) k.forward_query_block(pl, j, 0);
  });
}

void attention_backward(const AttentionBwdParams& p) {
  check_attention_params(p, &p);
  std::lock_guard<std::mutex> lock(g_call_mu);
  const AttentionKernels& k = active_attention_kernels();
  ThreadPool& pool = ThreadPool::global();
  {
    PlanStorage storage(p, &p, k, g_tuning, pool.size(), g_workspace);
    const FlashPlan& pl = storage.plan();
    int64_t kv_blocks = (int64_t)pl.B * pl.Hkv * pl.num_kb;
    int64_t q_blocks = (int64_t)pl.B * pl.Hq * pl.num_qb;
    run_items(pool, kv_blocks, [&](int64_t i, int t) { k.backward_prepare_kv(pl, i, t); });
    run_items(pool, q_blocks, [&](int64_t i, int t) { k.backward_prepare_q(pl, i, t); });
    if (pl.dq_partial) {
      run_items(pool, (int64_t)pl.B * pl.Hkv * pl.dq_chunks, [&](int64_t i, int t) { k.backward_key_pass(pl, i, t); });
      run_items(pool, q_blocks, [&](int64_t i, int t) { k.backward_finish_dq(pl, i, t); });
    } else {
      run_items(pool, kv_blocks, [&](int64_t i, int t) { k.backward_key_pass(pl, i, t); });
      run_items(pool, q_blocks, [&](int64_t i, int t) { k.backward_query_pass(pl, i, t); });
    }
  }
  release_if_large();
}

}  // namespace ctxwin::cpu
