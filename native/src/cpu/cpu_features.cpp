#include "cpu/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ctxwin/error.h"

namespace ctxwin::cpu {

namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.f16c = false;
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 11)
  f.f16c = __builtin_cpu_supports("f16c");
#else
  f.f16c = f.avx2;  // every AVX2 CPU has F16C; older compilers cannot ask for it
#endif
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
#endif
  return f;
}

// -1: no override (use the environment variable or the best); else a CpuIsa value.
std::atomic<int> g_override{-1};

bool parse_isa(const char* name, CpuIsa* out) {
  if (!std::strcmp(name, "generic")) *out = CpuIsa::Generic;
  else if (!std::strcmp(name, "avx2")) *out = CpuIsa::Avx2;
  else if (!std::strcmp(name, "avx512")) *out = CpuIsa::Avx512;
  else return false;
  return true;
}

// CTXWIN_CPU_ISA, read once; an unknown value is ignored (the default applies).
int env_request() {
  static const int request = [] {
    const char* s = std::getenv("CTXWIN_CPU_ISA");
    CpuIsa isa;
    return (s && parse_isa(s, &isa)) ? (int)isa : -1;
  }();
  return request;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Avx512: return "avx512";
    case CpuIsa::Avx2: return "avx2";
    case CpuIsa::Generic: return "generic";
  }
  return "generic";
}

CpuIsa best_supported_isa() {
#if defined(CTXWIN_CPU_X86_BUILDS)
  const CpuFeatures& f = cpu_features();
  bool avx2 = f.avx2 && f.fma && f.f16c;
  if (avx2 && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl) return CpuIsa::Avx512;
  if (avx2) return CpuIsa::Avx2;
#endif
  return CpuIsa::Generic;
}

CpuIsa active_cpu_isa() {
  int request = g_override.load(std::memory_order_relaxed);
  if (request < 0) request = env_request();
  CpuIsa best = best_supported_isa();
  if (request < 0 || request > (int)best) return best;  // never more than the CPU can run
  return (CpuIsa)request;
}

void set_cpu_isa_override(const char* name) {
  if (!name || !*name || !std::strcmp(name, "auto")) {
    g_override.store(-1);
    return;
  }
  CpuIsa isa;
  if (!parse_isa(name, &isa))
    fail("ERR_ARG", std::string("cpu isa: expected generic, avx2, avx512 or auto, got '") + name + "'");
  g_override.store((int)isa);
}

}  // namespace ctxwin::cpu
