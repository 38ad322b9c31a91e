// Resolution of a PositionalConfig into what kernels read (see positional.h).
#include "ctxwin/positional.h"

#include <cmath>
#include <cstring>
#include <list>
#include <mutex>
#include <utility>

#include "ctxwin/error.h"

namespace ctxwin {

namespace {
void check(bool ok, const std::string& msg) {
  if (!ok) fail("ERR_ARG", msg);
}
bool finite_pos(double x) { return std::isfinite(x) && x > 0; }
}  // namespace

ResolvedPositional resolve_positional(const PositionalConfig& c, int Hq, int D, int Tq, int Tk,
                                      int query_offset, bool compute_tables, int table_rows) {
  ResolvedPositional r;
  if (c.type == PositionalType::Alibi) {
    std::vector<double> s = c.slopes.empty() ? alibi_default_slopes(Hq) : c.slopes;
    check((int)s.size() == Hq, "positional.slopes: expected " + std::to_string(Hq) +
                                   " slopes (one per query head), got " + std::to_string(s.size()));
    for (double x : s) check(std::isfinite(x), "positional.slopes: expected finite numbers");
    check(c.train_length >= 0, "positional.trainLength: expected a positive integer");
    double pi = alibi_pi_factor(c.train_length, Tk);
    r.slopes.resize(Hq);
    for (int h = 0; h < Hq; ++h) r.slopes[h] = (float)(s[h] * pi);
  } else if (c.type == PositionalType::Rope) {
    int R = c.rotary_dim > 0 ? c.rotary_dim : D;
    check(R % 2 == 0 && R >= 2 && R <= D,
          "positional.rotaryDim: expected an even integer in [2, " + std::to_string(D) + "], got " +
              std::to_string(R));
    check(finite_pos(c.theta) && c.theta != 1.0,
          "positional.theta: expected a finite number > 0 and != 1");
    if (c.scaling != RopeScalingType::None) {
      check(finite_pos(c.factor), "positional.scaling.factor: expected a finite number > 0");
    }
    if (c.scaling == RopeScalingType::Ntk || c.scaling == RopeScalingType::Dynamic) {
      check(R > 2, "positional.rotaryDim: ntk and dynamic scaling need rotaryDim > 2");
    }
    if (c.scaling == RopeScalingType::Dynamic || c.scaling == RopeScalingType::Yarn) {
      check(c.original_max_positions > 0,
            "positional.scaling.originalMaxPositions: expected a positive integer");
    }
    if (c.scaling == RopeScalingType::Yarn) {
      check(finite_pos(c.beta_fast), "positional.scaling.betaFast: expected a finite number > 0");
      check(finite_pos(c.beta_slow), "positional.scaling.betaSlow: expected a finite number > 0");
    }
    int max_pos = Tk > query_offset + Tq ? Tk : query_offset + Tq;
    ResolvedRope rr = resolve_rope(c, D, max_pos);
    // Rows beyond max_pos (table_rows): room for later calls with longer keys (decode steps).
    int rows = table_rows > max_pos ? table_rows : max_pos;
    r.rotary_dim = R;
    r.attention_factor = rr.attention_factor;
    r.rope_positions = rows;
    if (!compute_tables) return r;
    int half = R / 2;
    r.rope_cos.resize((size_t)rows * half);
    r.rope_sin.resize((size_t)rows * half);
    // Angles in double: p * inv_freq loses ~p ulps in float, which at p ~ 1e4 is ~1e-3 rad.
    for (int p = 0; p < rows; ++p) {
      for (int i = 0; i < half; ++i) {
        double a = (double)p * rr.inv_freq[i];
        r.rope_cos[(size_t)p * half + i] = (float)(std::cos(a) * rr.attention_factor);
        r.rope_sin[(size_t)p * half + i] = (float)(std::sin(a) * rr.attention_factor);
      }
    }
  }
  return r;
}

int positional_rows_needed(int Tq, int Tk, int query_offset) {
  return Tk > query_offset + Tq ? Tk : query_offset + Tq;
}

std::shared_ptr<const ResolvedPositional> resolve_positional_cached(const PositionalConfig& c, int Hq, int D, int Tq,
                                                                    int Tk, int query_offset) {
  const int need = positional_rows_needed(Tq, Tk, query_offset);
  // The key spells out every input the numbers depend on. The lengths are not among them, except
  // where the math reads them: dynamic NTK's base grows with max(positions, L0), and ALiBi-PI's
  // slopes shrink with max(Tk, trainLength). Everything else reuses one table that covers
  // [0, capacity): a decode step (Tk + 1) or another layer finds it instead of recomputing
  // O(positions * R/2) sin/cos, and a longer call regrows it geometrically (amortised O(1) rows
  // per step over a generation).
  int length_dep = 0;
  if (c.type == PositionalType::Rope && c.scaling == RopeScalingType::Dynamic)
    length_dep = need > c.original_max_positions ? need : c.original_max_positions;
  if (c.type == PositionalType::Alibi && c.train_length > 0) length_dep = Tk > c.train_length ? Tk : c.train_length;
  std::string key;
  auto put = [&key](const void* p, size_t n) { key.append((const char*)p, n); };
  int ints[] = {(int)c.type, c.train_length, c.rotary_dim, (int)c.scaling, c.original_max_positions, c.truncate ? 1 : 0,
                Hq, D, length_dep};
  double reals[] = {c.theta, c.factor, c.beta_fast, c.beta_slow, c.attention_factor, c.mscale, c.mscale_all_dim};
  put(ints, sizeof ints);
  put(reals, sizeof reals);
  if (!c.slopes.empty()) put(c.slopes.data(), c.slopes.size() * sizeof(double));

  // Heap-allocated and never destroyed: a device-queue job may still be resolving while the
  // process exits, and a static destructor would free the list under it.
  struct Cache {
    std::mutex mu;
    std::list<std::pair<std::string, std::shared_ptr<const ResolvedPositional>>> lru;  // most recent first
  };
  static Cache* cache = new Cache();
  std::mutex& mu = cache->mu;
  auto& lru = cache->lru;
  constexpr size_t kCapacity = 8;
  int grow_to = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = lru.begin(); it != lru.end(); ++it) {
      if (it->first != key) continue;
      // ALiBi has no tables; a rope table must cover every position this call reads.
      if (c.type != PositionalType::Rope || it->second->rope_positions >= need) {
        lru.splice(lru.begin(), lru, it);
        return lru.front().second;
      }
      const int64_t twice = 2 * (int64_t)it->second->rope_positions;
      grow_to = (int)(twice < kMaxPosition ? twice : kMaxPosition);
      lru.erase(it);
      break;
    }
  }
  auto r = std::make_shared<const ResolvedPositional>(
      resolve_positional(c, Hq, D, Tq, Tk, query_offset, /*compute_tables=*/true, grow_to));
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = lru.begin(); it != lru.end(); ++it) {  // another thread may have added it meanwhile
    if (it->first == key) {
      lru.erase(it);
      break;
    }
  }
  lru.emplace_front(std::move(key), r);
  if (lru.size() > kCapacity) lru.pop_back();
  return r;
}

void bind_positional(AttentionParams& prm, const ResolvedPositional& r, PositionalType type) {
  prm.pos_type = type;
  prm.alibi_slopes = type == PositionalType::Alibi ? r.slopes.data() : nullptr;
  prm.rotary_dim = type == PositionalType::Rope ? r.rotary_dim : 0;
  prm.rope_positions = type == PositionalType::Rope ? r.rope_positions : 0;
  prm.rope_cos = type == PositionalType::Rope ? r.rope_cos.data() : nullptr;
  prm.rope_sin = type == PositionalType::Rope ? r.rope_sin.data() : nullptr;
}

}  // namespace ctxwin
