#include "binding/attention_args.h"

#include <cmath>

#include "binding/args.h"
#include "ctxwin/error.h"

namespace ctxwin::binding {

namespace {

double num(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}
std::string str(const Napi::Object& o, const char* key, const char* fallback) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : fallback;
}
int int_opt(const char* fn, const Napi::Object& o, const char* key, int fallback, int min) {
  double x = num(o, key, fallback);
  if (!std::isfinite(x) || x != std::floor(x) || x < min || x > 2147483647.0)
    fail("ERR_ARG", std::string(fn) + ": " + key + ": expected an integer >= " + std::to_string(min) +
                        ", got " + std::to_string(x));
  return (int)x;
}
void expect(bool ok, const char* code, const std::string& msg) {
  if (!ok) fail(code, msg);
}

}  // namespace

AttentionCall read_attention_call(const char* fn, const Storage& q, const Storage& k, const Storage& v,
                                  const Napi::Object& opts) {
  std::string f = fn;
  expect(q.shape().size() == 4, "ERR_SHAPE", f + ": q: expected a 4-d tensor [B, Tq, Hq, D], got shape " + shape_str(q.shape()));
  expect(k.shape().size() == 4, "ERR_SHAPE", f + ": k: expected a 4-d tensor [B, Tk, Hkv, D], got shape " + shape_str(k.shape()));
  expect(v.shape() == k.shape(), "ERR_SHAPE", f + ": v: expected the shape of k " + shape_str(k.shape()) + ", got " + shape_str(v.shape()));
  expect(k.shape()[0] == q.shape()[0], "ERR_SHAPE", f + ": k: expected batch " + std::to_string(q.shape()[0]) + " (as q), got " + std::to_string(k.shape()[0]));
  expect(k.shape()[3] == q.shape()[3], "ERR_SHAPE", f + ": k: expected head dim " + std::to_string(q.shape()[3]) + " (as q), got " + std::to_string(k.shape()[3]));
  expect(q.dtype() == k.dtype() && q.dtype() == v.dtype(), "ERR_DTYPE", f + ": k, v: expected the dtype of q (" + dtype_name(q.dtype()) + ")");
  for (int64_t d : q.shape()) expect(d > 0 && d < 2147483647, "ERR_SHAPE", f + ": q: expected positive dims, got " + shape_str(q.shape()));
  for (int64_t d : k.shape()) expect(d > 0 && d < 2147483647, "ERR_SHAPE", f + ": k: expected positive dims, got " + shape_str(k.shape()));

  AttentionCall c;
  AttentionParams& p = c.prm;
  p.B = (int)q.shape()[0];
  p.Tq = (int)q.shape()[1];
  p.Hq = (int)q.shape()[2];
  p.D = (int)q.shape()[3];
  p.Tk = (int)k.shape()[1];
  p.Hkv = (int)k.shape()[2];
  expect(p.Hq % p.Hkv == 0, "ERR_SHAPE", f + ": k: expected a kv head count dividing Hq = " + std::to_string(p.Hq) + ", got " + std::to_string(p.Hkv));
  p.dtype = q.dtype();

  Napi::Value causal = opts.Get("causal");
  p.causal = causal.IsBoolean() ? causal.As<Napi::Boolean>().Value() : true;
  p.softmax_scale = (float)num(opts, "softmaxScale", 1.0 / std::sqrt((double)p.D));
  expect(std::isfinite(p.softmax_scale) && p.softmax_scale > 0, "ERR_ARG", f + ": softmaxScale: expected a finite number > 0");
  p.window = int_opt(fn, opts, "window", 0, 0);
  p.query_offset = int_opt(fn, opts, "queryOffset", p.Tk - p.Tq < 0 ? 0 : p.Tk - p.Tq, 0);
  p.prefix_keys = int_opt(fn, opts, "prefixKeys", 0, 0);
  expect(p.prefix_keys <= p.Tk, "ERR_ARG", f + ": prefixKeys: expected at most Tk = " + std::to_string(p.Tk) + ", got " + std::to_string(p.prefix_keys));

  // Every query row must see at least one key (a fully masked row would be NaN).
  for (int i = 0; i < p.Tq; i += (p.Tq > 2 ? p.Tq - 1 : 1)) {
    // The visible range moves monotonically with p, so checking the first and last rows suffices.
    int lo, hi;
    attention_key_range(p, p.query_offset + i, &lo, &hi);
    expect(lo <= hi, "ERR_ARG", f + ": window/queryOffset: query row " + std::to_string(i) + " (position " +
                                    std::to_string(p.query_offset + i) + ") sees no key: every row must see at least one key");
  }

  // Per-sequence key ranges (lib/attention.ts sends both arrays or neither).
  Napi::Value kb = opts.Get("keyBegin"), ke = opts.Get("keyEnd");
  if (kb.IsArray() || ke.IsArray()) {
    expect(kb.IsArray() && ke.IsArray(), "ERR_ARG", f + ": keyBegin/keyEnd: expected both arrays or neither");
    Napi::Array a = kb.As<Napi::Array>(), e = ke.As<Napi::Array>();
    expect(a.Length() == (uint32_t)p.B && e.Length() == (uint32_t)p.B, "ERR_ARG",
           f + ": keyBegin/keyEnd: expected " + std::to_string(p.B) + " entries (the batch), got " + std::to_string(a.Length()) + " and " + std::to_string(e.Length()));
    for (uint32_t b = 0; b < a.Length(); ++b) {
      double lo = a.Get(b).IsNumber() ? a.Get(b).As<Napi::Number>().DoubleValue() : -1;
      double hi = e.Get(b).IsNumber() ? e.Get(b).As<Napi::Number>().DoubleValue() : -1;
      expect(lo == std::floor(lo) && hi == std::floor(hi) && lo >= 0 && lo < hi && hi <= p.Tk, "ERR_ARG",
             f + ": keyBegin/keyEnd: sequence " + std::to_string(b) + ": expected integers 0 <= begin < end <= Tk = " + std::to_string(p.Tk) +
                 ", got [" + std::to_string(lo) + ", " + std::to_string(hi) + ")");
      c.key_begin.push_back((int)lo);
      c.key_end.push_back((int)hi);
    }
  }

  PositionalConfig& pc = c.pos;
  const PositionalConfig def;  // the defaults: their one definition is PositionalConfig's initialisers
  std::string type = str(opts, "posType", "none");
  if (type == "none") {
    pc.type = PositionalType::None;
  } else if (type == "alibi") {
    pc.type = PositionalType::Alibi;
    Napi::Value slopes = opts.Get("slopes");
    if (slopes.IsArray()) {
      Napi::Array a = slopes.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) pc.slopes.push_back(a.Get(i).ToNumber().DoubleValue());
    }
    pc.train_length = int_opt(fn, opts, "trainLength", def.train_length, 0);
  } else if (type == "rope") {
    pc.type = PositionalType::Rope;
    pc.theta = num(opts, "theta", def.theta);
    pc.rotary_dim = int_opt(fn, opts, "rotaryDim", def.rotary_dim, 0);
    std::string scaling = str(opts, "scaling", "none");
    if (scaling == "none") pc.scaling = RopeScalingType::None;
    else if (scaling == "linear") pc.scaling = RopeScalingType::Linear;
    else if (scaling == "ntk") pc.scaling = RopeScalingType::Ntk;
    else if (scaling == "dynamic") pc.scaling = RopeScalingType::Dynamic;
    else if (scaling == "yarn") pc.scaling = RopeScalingType::Yarn;
    else fail("ERR_ARG", f + ": positional.scaling.type: expected \"linear\", \"ntk\", \"dynamic\" or \"yarn\", got \"" + scaling + "\"");
    pc.factor = num(opts, "factor", def.factor);
    pc.original_max_positions = int_opt(fn, opts, "originalMaxPositions", def.original_max_positions, 0);
    pc.beta_fast = num(opts, "betaFast", def.beta_fast);
    pc.beta_slow = num(opts, "betaSlow", def.beta_slow);
    pc.attention_factor = num(opts, "attentionFactor", def.attention_factor);
    pc.mscale = num(opts, "mscale", def.mscale);
    pc.mscale_all_dim = num(opts, "mscaleAllDim", def.mscale_all_dim);
    Napi::Value truncate = opts.Get("truncate");
    pc.truncate = truncate.IsBoolean() ? truncate.As<Napi::Boolean>().Value() : def.truncate;
  } else {
    fail("ERR_ARG", f + ": positional.type: expected \"none\", \"alibi\" or \"rope\", got \"" + type + "\"");
  }
  p.pos_type = pc.type;
  // Range checks of the positional options (tables are computed later, on the queue).
  (void)resolve_positional(pc, p.Hq, p.D, p.Tq, p.Tk, p.query_offset, /*compute_tables=*/false);
  return c;
}

}  // namespace ctxwin::binding
