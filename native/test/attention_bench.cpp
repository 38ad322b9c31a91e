// `attention_test --bench [quick] [bf16|f16] [bq=N] [bk=N] [dq=partials|querypass] [T=N] [D=N]`: GFLOP/s of the CPU attention kernels next to the
// machine's sgemm ceiling (OpenBLAS cblas_sgemm through dlopen, skipped when absent).
// FLOPs: forward 4*B*H*Tq*Tk*D (halved for causal), backward 2.5x the forward.
// Best of `reps` runs after a warm-up; CTXWIN_CPU_ISA / CTXWIN_NUM_THREADS select build/threads.
// Two rates: wall clock, and "cpu" = FLOPs / (process CPU seconds / threads), which ignores time
// other processes take from our cores (a shared machine) but hides idle threads at the end.
#include <dlfcn.h>

#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/attention.h"
#include "ctxwin/positional.h"
#include "runtime/thread_pool.h"
#include "test_tensors.h"

namespace ctxwin::test {

namespace {

using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

struct Timing {
  double wall = 1e30, cpu = 1e30;  // best of the runs, seconds
};

template <class F>
Timing best_time(int reps, F&& f) {
  f();  // warm-up (also sizes the workspace)
  Timing best;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    double c0 = cpu_seconds();
    f();
    best.cpu = std::min(best.cpu, cpu_seconds() - c0);
    best.wall = std::min(best.wall, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

// GFLOP/s of a square row-major sgemm, or 0 without a BLAS.
double sgemm_gflops(int n) {
  using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
  void* lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return 0;
  Sgemm sgemm = (Sgemm)dlsym(lib, "cblas_sgemm");
  if (!sgemm) return 0;
  std::vector<float> a((size_t)n * n, 0.5f), b((size_t)n * n, 0.25f), c((size_t)n * n, 0.f);
  double s = best_time(5, [&] { sgemm(101, 111, 111, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n); }).wall;
  return 2.0 * n * n * n / s / 1e9;
}

struct BenchInputs {
  HostTensor q, k, v, o, dout, dq, dk, dv;
  std::vector<float> lse;
};

}  // namespace

int run_bench(int argc, char** argv) {
  bool quick = false;
  DType dtype = DType::F32;
  cpu::AttentionTuning tuning;
  int only_T = 0, only_D = 0;
  for (int i = 2; i < argc; ++i) {
    if (!std::strncmp(argv[i], "bq=", 3)) tuning.block_q = std::atoi(argv[i] + 3);
    if (!std::strncmp(argv[i], "bk=", 3)) tuning.block_k = std::atoi(argv[i] + 3);
    if (!std::strncmp(argv[i], "T=", 2)) only_T = std::atoi(argv[i] + 2);
    if (!std::strncmp(argv[i], "D=", 2)) only_D = std::atoi(argv[i] + 2);
    if (!std::strcmp(argv[i], "dq=partials")) tuning.dq_scheme = cpu::AttentionTuning::DqScheme::Partials;
    if (!std::strcmp(argv[i], "dq=querypass")) tuning.dq_scheme = cpu::AttentionTuning::DqScheme::QueryPass;
    if (!std::strcmp(argv[i], "quick")) quick = true;
    if (!std::strcmp(argv[i], "bf16")) dtype = DType::BF16;
    if (!std::strcmp(argv[i], "f16")) dtype = DType::F16;
  }
  cpu::set_attention_tuning(tuning);
  int threads = ThreadPool::global().size();
  double peak = sgemm_gflops(2048);
  std::printf("build %s, %d threads, dtype %s, tiles %dx%d; ", cpu::attention_isa(), threads, dtype_name(dtype),
              tuning.block_q, tuning.block_k);
  if (peak > 0) std::printf("OpenBLAS sgemm 2048^3: %.1f GFLOP/s\n", peak);
  else std::printf("no libopenblas.so.0: no sgemm ceiling\n");
  std::printf("%-4s | %5s | %4s | %-5s | %-6s | %9s | %8s | %7s | %8s\n", "op", "T", "D", "pos", "mask", "ms",
              "GFLOP/s", "% sgemm", "cpu GF/s");

  const int B = 1, H = 4;
  std::vector<int> lengths = quick ? std::vector<int>{512, 2048} : std::vector<int>{512, 1024, 2048, 4096};
  std::mt19937_64 rng(1);
  if (only_T) lengths = {only_T};
  for (int D : {64, 128}) {
    if (only_D && D != only_D) continue;
    for (int T : lengths) {
      size_t n = (size_t)B * T * H * D;
      BenchInputs in;
      in.q = random_tensor(dtype, n, rng, 1.0);
      in.k = random_tensor(dtype, n, rng, 1.0);
      in.v = random_tensor(dtype, n, rng, 1.0);
      in.dout = random_tensor(dtype, n, rng, 1.0);
      in.o = make_tensor(dtype, n);
      in.dq = make_tensor(dtype, n);
      in.dk = make_tensor(dtype, n);
      in.dv = make_tensor(dtype, n);
      in.lse.assign((size_t)B * H * T, 0.f);
      struct Variant {
        const char* pos;
        bool causal;
      };
      for (Variant var : {Variant{"none", true}, Variant{"alibi", true}, Variant{"yarn", true}, Variant{"none", false}}) {
        AttentionBwdParams p;
        p.B = B;
        p.Tq = p.Tk = T;
        p.Hq = p.Hkv = H;
        p.D = D;
        p.dtype = dtype;
        p.softmax_scale = 1.f / std::sqrt((float)D);
        p.causal = var.causal;
        PositionalConfig pc;
        if (!std::strcmp(var.pos, "alibi")) pc.type = PositionalType::Alibi;
        if (!std::strcmp(var.pos, "yarn")) {
          pc.type = PositionalType::Rope;
          pc.scaling = RopeScalingType::Yarn;
          pc.factor = 4;
          pc.original_max_positions = T / 4;
        }
        ResolvedPositional rp = resolve_positional(pc, H, D, T, T, 0);
        bind_positional(p, rp, pc.type);
        p.q = in.q.data();
        p.k = in.k.data();
        p.v = in.v.data();
        p.o = in.o.data();
        p.lse = in.lse.data();
        p.dout = in.dout.data();
        p.dq = in.dq.data();
        p.dk = in.dk.data();
        p.dv = in.dv.data();
        double fwd_flops = 4.0 * B * H * (double)T * T * D * (var.causal ? 0.5 : 1.0);
        int reps = T >= 2048 ? 2 : 5;
        Timing tf = best_time(reps, [&] { cpu::attention_forward(p); });
        Timing tb = best_time(reps, [&] { cpu::attention_backward(p); });
        const char* mask = var.causal ? "causal" : "full";
        for (int op = 0; op < 2; ++op) {
          Timing t = op == 0 ? tf : tb;
          double flops = op == 0 ? fwd_flops : 2.5 * fwd_flops;
          double gf = flops / t.wall / 1e9, gf_cpu = flops / (t.cpu / threads) / 1e9;
          std::printf("%-4s | %5d | %4d | %-5s | %-6s | %9.2f | %8.1f | %6.1f%% | %8.1f\n", op == 0 ? "fwd" : "bwd", T, D,
                      var.pos, mask, t.wall * 1e3, gf, peak > 0 ? 100.0 * gf / peak : 0.0, gf_cpu);
        }
      }
    }
  }
  return 0;
}

}  // namespace ctxwin::test
