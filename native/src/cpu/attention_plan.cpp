#include "cpu/attention_plan.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <new>
#include <string>

#include "ctxwin/attention_seq_ranges.h"
#include "ctxwin/error.h"

namespace ctxwin::cpu {

namespace {

constexpr float kLog2eF = 1.4426950408889634f;

void require(bool ok, const char* fn, const std::string& what) {
  if (!ok) fail("ERR_ARG", std::string(fn) + ": " + what);
}

int round_up(int x, int m) { return (x + m - 1) / m * m; }
int ceil_div(int x, int m) { return (x + m - 1) / m; }

}  // namespace

void check_attention_params(const AttentionParams& p, const AttentionBwdParams* bwd) {
  const char* fn = bwd ? "cpu attention_backward" : "cpu attention_forward";
  require(p.B > 0 && p.Tq > 0 && p.Tk > 0 && p.Hq > 0 && p.Hkv > 0 && p.D > 0, fn, "expected positive shapes");
  require(p.Hq % p.Hkv == 0, fn, "expected Hq to be a multiple of Hkv");
  require(p.dtype == DType::F32 || p.dtype == DType::BF16 || p.dtype == DType::F16, fn, "unknown dtype");
  require(std::isfinite(p.softmax_scale), fn, "expected a finite softmax_scale");
  require(p.window >= 0 && p.query_offset >= 0, fn, "expected window >= 0 and query_offset >= 0");
  require(p.prefix_keys >= 0 && p.prefix_keys <= p.Tk, fn, "expected prefix_keys in [0, Tk]");
  require((int64_t)p.query_offset + p.Tq <= kMaxPosition && p.Tk <= kMaxPosition, fn,
          "positions beyond 2^24 are not supported by the CPU kernels");
  require(p.q && p.k && p.v && p.lse, fn, "expected q, k, v and lse pointers");
  const char* seq_error = attention_seq_ranges_error(p);
  require(seq_error == nullptr, fn, seq_error ? seq_error : "");
  if (p.pos_type == PositionalType::Alibi) require(p.alibi_slopes != nullptr, fn, "alibi: expected slopes");
  if (p.pos_type == PositionalType::Rope) {
    require(p.rotary_dim >= 2 && p.rotary_dim % 2 == 0 && p.rotary_dim <= p.D, fn,
            "rope: expected an even rotary_dim in [2, D]");
    require(p.rope_cos && p.rope_sin, fn, "rope: expected cos/sin tables");
    require(p.rope_positions >= p.Tk && (int64_t)p.rope_positions >= (int64_t)p.query_offset + p.Tq, fn,
            "rope: expected tables covering max(Tk, query_offset + Tq) positions");
  }
  if (bwd) {
    require(bwd->o && bwd->dout && bwd->dq && bwd->dk && bwd->dv, fn, "expected o, dout, dq, dk and dv pointers");
  } else {
    require(p.o != nullptr, fn, "expected an o pointer");
  }
}

PlanStorage::PlanStorage(const AttentionParams& p, const AttentionBwdParams* bwd, const AttentionKernels& kernels,
                         const AttentionTuning& tuning, int threads, AlignedBuffer& workspace) {
  FlashPlan& pl = plan_;
  pl.prm = &p;
  pl.bwd = bwd;
  pl.B = p.B;
  pl.Tq = p.Tq;
  pl.Tk = p.Tk;
  pl.Hq = p.Hq;
  pl.Hkv = p.Hkv;
  pl.G = p.Hq / p.Hkv;
  pl.D = p.D;
  pl.Dp = round_up(p.D, kernels.vec_width);
  pl.block_q = std::max(1, tuning.block_q);
  pl.block_k = round_up(std::max(1, tuning.block_k), kernels.panel_keys);
  pl.num_qb = ceil_div(p.Tq, pl.block_q);
  pl.num_kb = ceil_div(p.Tk, pl.block_k);
  pl.Tkp = pl.num_kb * pl.block_k;
  pl.rotary_dim = p.pos_type == PositionalType::Rope ? p.rotary_dim : 0;
  pl.q_scale = p.softmax_scale * kLog2eF;
  if (p.pos_type == PositionalType::Alibi) {
    slopes_log2_.resize(p.Hq);
    for (int h = 0; h < p.Hq; ++h) slopes_log2_[h] = p.alibi_slopes[h] * kLog2eF;
    pl.slopes_log2 = slopes_log2_.data();
  }
  compute_ranges();
  if (bwd) choose_dq_scheme(tuning, threads);
  layout_workspace(kernels, threads, workspace);
}

void PlanStorage::compute_ranges() {
  FlashPlan& pl = plan_;
  const AttentionParams& p = *pl.prm;
  row_lo_.resize(pl.Tq);
  row_hi_.resize(pl.Tq);
  for (int i = 0; i < pl.Tq; ++i) attention_key_range(p, p.query_offset + i, &row_lo_[i], &row_hi_[i]);

  // Per query block: the keys any row sees, and the keys every row sees (empty rows have
  // lo > hi, which makes the "every row" range empty: their tiles are always masked).
  qb_key_lo_.assign(pl.num_qb, INT_MAX);
  qb_key_hi_.assign(pl.num_qb, INT_MIN);
  qb_full_lo_.assign(pl.num_qb, INT_MIN);
  qb_full_hi_.assign(pl.num_qb, INT_MAX);
  for (int i = 0; i < pl.Tq; ++i) {
    int qb = i / pl.block_q, lo = row_lo_[i], hi = row_hi_[i];
    if (lo <= hi) {
      qb_key_lo_[qb] = std::min(qb_key_lo_[qb], lo);
      qb_key_hi_[qb] = std::max(qb_key_hi_[qb], hi);
    }
    qb_full_lo_[qb] = std::max(qb_full_lo_[qb], lo);
    qb_full_hi_[qb] = std::min(qb_full_hi_[qb], hi);
  }

  // Per key block: the query rows that see one of its keys. row_lo and row_hi are
  // non-decreasing in the row (attention_key_range moves with the position), so binary search.
  kb_query_lo_.resize(pl.num_kb);
  kb_query_hi_.resize(pl.num_kb);
  for (int kb = 0; kb < pl.num_kb; ++kb) {
    int j0 = kb * pl.block_k, j1 = std::min(pl.Tk, j0 + pl.block_k) - 1;
    // first row with hi >= j0, last row with lo <= j1
    kb_query_lo_[kb] = (int)(std::lower_bound(row_hi_.begin(), row_hi_.end(), j0) - row_hi_.begin());
    kb_query_hi_[kb] = (int)(std::upper_bound(row_lo_.begin(), row_lo_.end(), j1) - row_lo_.begin()) - 1;
  }

  pl.row_lo = row_lo_.data();
  pl.row_hi = row_hi_.data();
  pl.qb_key_lo = qb_key_lo_.data();
  pl.qb_key_hi = qb_key_hi_.data();
  pl.qb_full_lo = qb_full_lo_.data();
  pl.qb_full_hi = qb_full_hi_.data();
  pl.kb_query_lo = kb_query_lo_.data();
  pl.kb_query_hi = kb_query_hi_.data();
}

// dQ partials need chunks x |q| floats; enough chunks that the key pass has ~4 items per thread.
// Without the memory, the query pass recomputes instead (see flash_backward.h).
void PlanStorage::choose_dq_scheme(const AttentionTuning& tuning, int threads) {
  FlashPlan& pl = plan_;
  int64_t kv_items = (int64_t)pl.B * pl.Hkv;
  int64_t want = (4 * (int64_t)threads + kv_items - 1) / kv_items;
  int chunks = (int)std::max<int64_t>(1, std::min<int64_t>(want, pl.num_kb));
  size_t bytes = (size_t)chunks * pl.B * pl.Hq * pl.Tq * pl.Dp * sizeof(float);
  bool partials = tuning.dq_scheme == AttentionTuning::DqScheme::Partials ||
                  (tuning.dq_scheme == AttentionTuning::DqScheme::Auto && bytes <= tuning.dq_partials_max_bytes);
  pl.dq_chunks = partials ? chunks : 0;
}

void PlanStorage::layout_workspace(const AttentionKernels& kernels, int threads, AlignedBuffer& workspace) {
  FlashPlan& pl = plan_;
  bool backward = pl.bwd != nullptr;
  size_t kv = (size_t)pl.B * pl.Hkv * pl.Tkp;  // key rows incl. padding
  size_t qrows = (size_t)pl.B * pl.Hq * pl.Tq;
  auto aligned = [](size_t n) { return (n + 15) / 16 * 16; };
  size_t n_k_panels = aligned(kv * pl.D);
  size_t n_v_rows = backward ? 0 : aligned(kv * pl.Dp);
  size_t n_v_panels = backward ? aligned(kv * pl.D) : 0;
  size_t n_k_rows = backward ? aligned(kv * pl.Dp) : 0;
  size_t n_q = backward ? aligned(qrows * pl.Dp) : 0;
  size_t n_rowvec = backward ? aligned(qrows) : 0;
  size_t n_partial = backward ? aligned((size_t)pl.dq_chunks * qrows * pl.Dp) : 0;
  pl.scratch_floats = aligned(kernels.scratch_floats(pl));
  size_t total = n_k_panels + n_v_rows + n_v_panels + n_k_rows + 2 * n_q + 2 * n_rowvec + n_partial +
                 pl.scratch_floats * threads;

  float* cur = nullptr;
  try {
    cur = workspace.reserve(total);
  } catch (const std::bad_alloc&) {
    fail("ERR_MEMORY", "cpu attention: out of memory allocating " + std::to_string(total * sizeof(float) >> 20) +
                           " MiB of scratch");
  }
  auto take = [&cur](size_t n) -> float* {
    float* r = n ? cur : nullptr;
    cur += n;
    return r;
  };
  pl.k_panels = take(n_k_panels);
  pl.v_rows = take(n_v_rows);
  pl.v_panels = take(n_v_panels);
  pl.k_rows = take(n_k_rows);
  pl.q_rows = take(n_q);
  pl.do_rows = take(n_q);
  pl.delta = take(n_rowvec);
  pl.lse_log2 = take(n_rowvec);
  pl.dq_partial = take(n_partial);
  pl.scratch = take(pl.scratch_floats * threads);
}

}  // namespace ctxwin::cpu
