// Native tests of the CPU attention kernels against a float64 reference (attention_reference.h):
// every option (causal, window, query offset, ALiBi, ALiBi-PI, RoPE with partial rotary / linear /
// ntk / dynamic / YaRN, prefix keys, GQA, bf16/f16) on odd sizes, for every SIMD build this CPU
// runs (generic forced too), default and small tiles, both dQ schemes. Prints the max normalised
// errors; exits 1 on a failure.
//
//   scripts/native-test.sh            build + run the tests
//   scripts/native-test.sh --bench    GFLOP/s table (attention_bench.cpp)
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "attention_reference.h"
#include "cpu/attention.h"
#include "cpu/cpu_features.h"
#include "cpu/simd.h"
#include "cpu/simd_generic.h"
#include "ctxwin/error.h"
#include "ctxwin/positional.h"
#include "test_tensors.h"

namespace ctxwin::test {
int run_bench(int argc, char** argv);  // attention_bench.cpp
}

using namespace ctxwin;
using namespace ctxwin::test;

namespace {

struct Case {
  std::string name;
  int B = 2, Tq = 37, Tk = 37, Hq = 6, Hkv = 2, D = 24;
  bool causal = true;
  int window = 0;
  int query_offset = -1;  // -1: Tk - Tq (the API default)
  int prefix_keys = 0;
  float softmax_scale = 0.f;  // 0: 1/sqrt(D)
  DType dtype = DType::F32;
  PositionalConfig pos;
};

struct Tolerance {
  double fwd, lse, bwd;
};
Tolerance tolerance(DType t) {
  switch (t) {
    case DType::F32: return {1e-5, 1e-5, 1e-4};
    case DType::F16: return {2e-3, 1e-5, 5e-3};
    case DType::BF16: return {8e-3, 1e-5, 3e-2};
  }
  return {0, 0, 0};
}

struct Errors {
  double o = 0, lse = 0, dq = 0, dk = 0, dv = 0;
  void max_with(const Errors& e) {
    o = std::max(o, e.o);
    lse = std::max(lse, e.lse);
    dq = std::max(dq, e.dq);
    dk = std::max(dk, e.dk);
    dv = std::max(dv, e.dv);
  }
};

struct Problem {
  AttentionBwdParams prm;
  ResolvedPositional pos;
  HostTensor q, k, v, dout;
  RefResult ref;
};

void make_problem(const Case& c, Problem& pr) {
  std::mt19937_64 rng(std::hash<std::string>{}(c.name));
  AttentionBwdParams& p = pr.prm;
  p.B = c.B;
  p.Tq = c.Tq;
  p.Tk = c.Tk;
  p.Hq = c.Hq;
  p.Hkv = c.Hkv;
  p.D = c.D;
  p.dtype = c.dtype;
  p.softmax_scale = c.softmax_scale > 0 ? c.softmax_scale : 1.f / std::sqrt((float)c.D);
  p.causal = c.causal;
  p.window = c.window;
  p.query_offset = c.query_offset >= 0 ? c.query_offset : std::max(0, c.Tk - c.Tq);
  p.prefix_keys = c.prefix_keys;
  pr.pos = resolve_positional(c.pos, c.Hq, c.D, c.Tq, c.Tk, p.query_offset);
  bind_positional(p, pr.pos, c.pos.type);
  size_t nq = (size_t)c.B * c.Tq * c.Hq * c.D, nk = (size_t)c.B * c.Tk * c.Hkv * c.D;
  pr.q = random_tensor(c.dtype, nq, rng, 1.0);
  pr.k = random_tensor(c.dtype, nk, rng, 1.0);
  pr.v = random_tensor(c.dtype, nk, rng, 1.0);
  pr.dout = random_tensor(c.dtype, nq, rng, 1.0);
  pr.ref = reference_attention(p, pr.q.values, pr.k.values, pr.v.values, pr.dout.values);
}

Errors run_kernels(Problem& pr) {
  AttentionBwdParams p = pr.prm;
  size_t nq = pr.q.values.size(), nk = pr.k.values.size();
  HostTensor o = make_tensor(p.dtype, nq), dq = make_tensor(p.dtype, nq), dk = make_tensor(p.dtype, nk),
             dv = make_tensor(p.dtype, nk);
  std::vector<float> lse((size_t)p.B * p.Hq * p.Tq, 12345.f);
  p.q = pr.q.data();
  p.k = pr.k.data();
  p.v = pr.v.data();
  p.o = o.data();
  p.lse = lse.data();
  cpu::attention_forward(p);
  p.dout = pr.dout.data();
  p.dq = dq.data();
  p.dk = dk.data();
  p.dv = dv.data();
  cpu::attention_backward(p);
  Errors e;
  e.o = normalized_error(read_values(o), pr.ref.o);
  e.lse = lse_error(lse, pr.ref.lse);
  e.dq = normalized_error(read_values(dq), pr.ref.dq);
  e.dk = normalized_error(read_values(dk), pr.ref.dk);
  e.dv = normalized_error(read_values(dv), pr.ref.dv);
  return e;
}

std::vector<Case> make_cases() {
  std::vector<Case> cs;
  auto add = [&](const std::string& name, auto&& edit) {
    Case c;
    c.name = name;
    edit(c);
    cs.push_back(c);
  };
  auto rope = [](Case& c, int R) {
    c.pos.type = PositionalType::Rope;
    c.pos.rotary_dim = R;
  };
  add("causal", [](Case&) {});
  add("noncausal", [](Case& c) { c.causal = false; });
  add("causal window 8", [](Case& c) { c.window = 8; });
  add("noncausal window 5", [](Case& c) { c.causal = false; c.window = 5; });
  add("decode Tq=1", [](Case& c) { c.Tq = 1; c.Tk = 37; });
  add("chunk Tq=13 Tk=37", [](Case& c) { c.Tq = 13; });
  add("noncausal offset 5 Tq=13", [](Case& c) { c.Tq = 13; c.causal = false; c.query_offset = 5; });
  add("causal offset 0 Tq=13 Tk=37", [](Case& c) { c.Tq = 13; c.query_offset = 0; });
  add("window 6 offset Tq=1", [](Case& c) { c.Tq = 1; c.window = 6; });
  add("mqa Hq=8 Hkv=1", [](Case& c) { c.Hq = 8; c.Hkv = 1; });
  add("mha Hq=Hkv=3 D=40", [](Case& c) { c.Hq = 3; c.Hkv = 3; c.D = 40; });
  add("scale 0.3", [](Case& c) { c.softmax_scale = 0.3f; });
  add("alibi", [](Case& c) { c.pos.type = PositionalType::Alibi; });
  add("alibi noncausal window 9", [](Case& c) { c.pos.type = PositionalType::Alibi; c.causal = false; c.window = 9; });
  add("alibi-pi L=16", [](Case& c) { c.pos.type = PositionalType::Alibi; c.pos.train_length = 16; });
  add("alibi custom slopes", [](Case& c) {
    c.pos.type = PositionalType::Alibi;
    c.pos.slopes = {0.5, 0.25, 1.0, 0.0, 0.125, 2.0};
  });
  add("rope", [&](Case& c) { rope(c, 0); });
  add("rope partial R=12", [&](Case& c) { rope(c, 12); });
  add("rope noncausal R=8", [&](Case& c) { rope(c, 8); c.causal = false; });
  add("rope linear 2", [&](Case& c) { rope(c, 0); c.pos.scaling = RopeScalingType::Linear; c.pos.factor = 2; });
  add("rope ntk 4", [&](Case& c) { rope(c, 0); c.pos.scaling = RopeScalingType::Ntk; c.pos.factor = 4; });
  add("rope dynamic", [&](Case& c) {
    rope(c, 0);
    c.pos.scaling = RopeScalingType::Dynamic;
    c.pos.factor = 2;
    c.pos.original_max_positions = 16;
  });
  add("yarn 4 L0=16", [&](Case& c) {
    rope(c, 0);
    c.pos.scaling = RopeScalingType::Yarn;
    c.pos.factor = 4;
    c.pos.original_max_positions = 16;
  });
  add("yarn partial R=16 decode", [&](Case& c) {
    rope(c, 16);
    c.Tq = 1;
    c.pos.scaling = RopeScalingType::Yarn;
    c.pos.factor = 8;
    c.pos.original_max_positions = 8;
  });
  add("rope prefix 5", [&](Case& c) { rope(c, 0); c.prefix_keys = 5; });
  add("rope prefix 7 chunk", [&](Case& c) { rope(c, 0); c.prefix_keys = 7; c.Tq = 10; });
  add("long T=150 D=64", [](Case& c) { c.Tq = c.Tk = 150; c.D = 64; c.B = 1; c.Hq = 4; });
  add("long T=130 D=128 alibi win", [](Case& c) {
    c.Tq = c.Tk = 130; c.D = 128; c.B = 1; c.Hq = 2; c.Hkv = 1; c.window = 50;
    c.pos.type = PositionalType::Alibi;
  });
  add("long T=140 D=80 yarn", [&](Case& c) {
    c.Tq = c.Tk = 140; c.D = 80; c.B = 1; c.Hq = 2; c.Hkv = 2;
    rope(c, 64);
    c.pos.scaling = RopeScalingType::Yarn;
    c.pos.factor = 4;
    c.pos.original_max_positions = 32;
  });
  add("rows seeing no key", [](Case& c) {  // never from the API; must give 0 / -inf, not NaN
    c.Tq = 20; c.Tk = 37; c.causal = false; c.window = 3; c.query_offset = 30;
  });
  // Low precision.
  for (DType t : {DType::BF16, DType::F16}) {
    std::string n = dtype_name(t);
    add(n + " causal", [&](Case& c) { c.dtype = t; });
    add(n + " alibi window", [&](Case& c) { c.dtype = t; c.pos.type = PositionalType::Alibi; c.window = 10; });
    add(n + " yarn partial prefix", [&](Case& c) {
      c.dtype = t;
      rope(c, 12);
      c.prefix_keys = 3;
      c.pos.scaling = RopeScalingType::Yarn;
      c.pos.factor = 4;
      c.pos.original_max_positions = 16;
    });
    add(n + " decode D=40", [&](Case& c) { c.dtype = t; c.Tq = 1; c.D = 40; });
  }
  return cs;
}

struct Config {
  const char* name;
  cpu::AttentionTuning tuning;
};
std::vector<Config> make_configs() {
  cpu::AttentionTuning base;
  std::vector<Config> v;
  cpu::AttentionTuning t = base;
  t.dq_scheme = cpu::AttentionTuning::DqScheme::Partials;
  v.push_back({"default/partials", t});
  t.dq_scheme = cpu::AttentionTuning::DqScheme::QueryPass;
  v.push_back({"default/querypass", t});
  t = base;
  t.block_q = 5;  // many tiles, remainder rows
  t.block_k = 16;
  t.dq_scheme = cpu::AttentionTuning::DqScheme::Partials;
  v.push_back({"small/partials", t});
  t.dq_scheme = cpu::AttentionTuning::DqScheme::QueryPass;
  v.push_back({"small/querypass", t});
  return v;
}

// Vector conversions must match the scalar ones of dtype.h bit for bit (NaN: any NaN).
bool test_conversions() {
  std::vector<float> xs = {0.f, -0.f, 1.f, -1.5f, 3.14159265f, 65504.f, 65520.f, 1e-8f, -6e-5f, 6.1e-5f,
                           1e30f, -1e-40f, INFINITY, -INFINITY, NAN, 1.00390625f, 1.01171875f, 2049.f, 2051.f};
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 4000; ++i) {
    uint32_t u = bits(rng);
    float f;
    std::memcpy(&f, &u, 4);
    xs.push_back(f);
  }
  bool ok = true;
  for (DType t : {DType::BF16, DType::F16}) {
    std::vector<uint16_t> h(xs.size());
    from_f32(t, xs.data(), h.data(), xs.size());
    for (size_t i = 0; i < xs.size(); ++i) {
      uint16_t want = t == DType::BF16 ? f32_to_bf16_bits(xs[i]) : f32_to_f16_bits(xs[i]);
      bool nan = std::isnan(xs[i]);
      float back_got = t == DType::BF16 ? bf16_bits_to_f32(h[i]) : f16_bits_to_f32(h[i]);
      if (nan ? !std::isnan(back_got) : h[i] != want) {
        std::printf("  conversion %s: %g -> %04x, expected %04x\n", dtype_name(t), xs[i], h[i], want);
        ok = false;
        break;
      }
    }
    std::vector<float> back(xs.size());
    to_f32(t, h.data(), back.data(), h.size());
    for (size_t i = 0; i < xs.size(); ++i) {
      float want = t == DType::BF16 ? bf16_bits_to_f32(h[i]) : f16_bits_to_f32(h[i]);
      if (std::isnan(want) ? !std::isnan(back[i]) : std::memcmp(&want, &back[i], 4) != 0) {
        std::printf("  conversion %s -> f32: %04x -> %g, expected %g\n", dtype_name(t), h[i], back[i], want);
        ok = false;
        break;
      }
    }
  }
  return ok;
}

// The kernels' exp2 (simd.h; here the portable instance: the same polynomial as the AVX ones,
// which differ only by fused multiply-adds) against exp2 in double, in relative error.
double exp2_max_relative_error() {
  using V = cpu::simd_generic::Vec;
  double worst = 0;
  float xs[V::W];
  for (double x0 = -126.0; x0 <= 0.0; x0 += V::W * 1e-3) {
    for (int l = 0; l < V::W; ++l) xs[l] = (float)(x0 + l * 1e-3);
    float ys[V::W];
    V::store(ys, cpu::exp2_approx<V>(V::load(xs)));
    for (int l = 0; l < V::W; ++l) {
      double want = std::exp2((double)xs[l]);
      worst = std::max(worst, std::abs(ys[l] - want) / want);
    }
  }
  // Masked scores: exactly 0, never NaN.
  for (int l = 0; l < V::W; ++l) xs[l] = l % 2 ? -INFINITY : -200.f;
  float ys[V::W];
  V::store(ys, cpu::exp2_approx<V>(V::load(xs)));
  for (int l = 0; l < V::W; ++l)
    if (ys[l] != 0.f) return INFINITY;
  return worst;
}

bool test_invalid_params_throw() {
  AttentionParams p;
  p.B = 1;
  p.Tq = p.Tk = 4;
  p.Hq = 3;
  p.Hkv = 2;  // not a divisor
  p.D = 8;
  try {
    cpu::attention_forward(p);
  } catch (const Error& e) {
    return e.code() == "ERR_ARG";
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && !std::strcmp(argv[1], "--bench")) return run_bench(argc, argv);

  const cpu::CpuFeatures& f = cpu::cpu_features();
  std::printf("cpu: avx2=%d fma=%d f16c=%d avx512f=%d bw=%d dq=%d vl=%d; best build: %s\n", f.avx2, f.fma, f.f16c,
              f.avx512f, f.avx512bw, f.avx512dq, f.avx512vl, cpu::cpu_isa_name(cpu::best_supported_isa()));
  std::vector<cpu::CpuIsa> isas = {cpu::CpuIsa::Generic};
  if ((int)cpu::best_supported_isa() >= (int)cpu::CpuIsa::Avx2) isas.push_back(cpu::CpuIsa::Avx2);
  if ((int)cpu::best_supported_isa() >= (int)cpu::CpuIsa::Avx512) isas.push_back(cpu::CpuIsa::Avx512);
  if (cpu::best_supported_isa() != cpu::CpuIsa::Avx512)
    std::printf("note: this CPU cannot run the avx512 build (it is compiled, not tested here)\n");

  bool ok = true;
  // An override the CPU cannot run falls back to the best supported build.
  cpu::set_cpu_isa_override("avx512");
  if (std::strcmp(cpu::attention_isa(), cpu::cpu_isa_name(cpu::best_supported_isa())) != 0) {
    std::printf("FAIL: override avx512 gave %s\n", cpu::attention_isa());
    ok = false;
  }
  try {
    cpu::set_cpu_isa_override("sse9");
    std::printf("FAIL: unknown isa name accepted\n");
    ok = false;
  } catch (const Error&) {
  }
  if (!test_invalid_params_throw()) {
    std::printf("FAIL: invalid params did not throw ERR_ARG\n");
    ok = false;
  }

  double exp2_err = exp2_max_relative_error();
  std::printf("exp2_approx: max relative error %.2e on [-126, 0] (= %.2f x 2^-24, about 1 f32 ulp)\n", exp2_err,
              exp2_err / 5.96e-8);
  if (!(exp2_err < 3e-7)) {
    std::printf("FAIL: exp2_approx error\n");
    ok = false;
  }

  std::vector<Case> cases = make_cases();
  std::vector<Config> configs = make_configs();
  std::printf("%-30s %-7s %-4s | %9s %9s %9s %9s %9s | %s\n", "case", "isa", "type", "o", "lse", "dq", "dk", "dv",
              "result");
  for (cpu::CpuIsa isa : isas) {
    cpu::set_cpu_isa_override(cpu::cpu_isa_name(isa));
    std::printf("-- build %s (%s)\n", cpu::attention_isa(), "default and small tiles, both dQ schemes");
    bool conv = test_conversions();
    std::printf("%-30s %-7s %-4s | %s\n", "dtype conversions", cpu::attention_isa(), "", conv ? "ok" : "FAIL");
    ok = ok && conv;
    Errors worst_all;
    for (const Case& c : cases) {
      Problem pr;
      make_problem(c, pr);
      Errors worst;
      for (const Config& cfg : configs) {
        cpu::set_attention_tuning(cfg.tuning);
        worst.max_with(run_kernels(pr));
      }
      cpu::set_attention_tuning(cpu::AttentionTuning{});
      Tolerance tol = tolerance(c.dtype);
      bool pass = worst.o <= tol.fwd && worst.lse <= tol.lse && worst.dq <= tol.bwd && worst.dk <= tol.bwd &&
                  worst.dv <= tol.bwd;
      ok = ok && pass;
      std::printf("%-30s %-7s %-4s | %9.2e %9.2e %9.2e %9.2e %9.2e | %s\n", c.name.c_str(), cpu::attention_isa(),
                  dtype_name(c.dtype), worst.o, worst.lse, worst.dq, worst.dk, worst.dv, pass ? "ok" : "FAIL");
      if (c.dtype == DType::F32) worst_all.max_with(worst);
    }
    std::printf("%-30s %-7s %-4s | %9.2e %9.2e %9.2e %9.2e %9.2e |\n", "max over f32 cases", cpu::attention_isa(),
                "f32", worst_all.o, worst_all.lse, worst_all.dq, worst_all.dk, worst_all.dv);
  }
  cpu::set_cpu_isa_override(nullptr);
  std::printf("%s\n", ok ? "ALL PASSED" : "FAILURES");
  return ok ? 0 : 1;
}
