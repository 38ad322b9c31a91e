// Building a FlashPlan (attention_kernels.h) for one call: parameter checks, per-row visible key
// ranges and block summaries, and the layout of the f32 scratch in one reusable workspace.
#pragma once
#include <vector>

#include "cpu/aligned_buffer.h"
#include "cpu/attention.h"
#include "cpu/attention_kernels.h"

namespace ctxwin::cpu {

// Throws ctxwin::Error (ERR_ARG) unless p is a well-formed forward (or backward) call.
void check_attention_params(const AttentionParams& p, const AttentionBwdParams* bwd);

// The plan plus the arrays it points to. Not copyable (the plan points into it).
class PlanStorage {
 public:
  PlanStorage(const AttentionParams& p, const AttentionBwdParams* bwd, const AttentionKernels& kernels,
              const AttentionTuning& tuning, int threads, AlignedBuffer& workspace);
  PlanStorage(const PlanStorage&) = delete;
  PlanStorage& operator=(const PlanStorage&) = delete;

  const FlashPlan& plan() const { return plan_; }

 private:
  void compute_ranges();
  void choose_dq_scheme(const AttentionTuning& tuning, int threads);
  void layout_workspace(const AttentionKernels& kernels, int threads, AlignedBuffer& workspace);

  FlashPlan plan_;
  std::vector<float> slopes_log2_;
  std::vector<int> row_lo_, row_hi_;
  std::vector<int> qb_key_lo_, qb_key_hi_, qb_full_lo_, qb_full_hi_;
  std::vector<int> kb_query_lo_, kb_query_hi_;
};

}  // namespace ctxwin::cpu
