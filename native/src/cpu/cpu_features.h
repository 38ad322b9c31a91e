// What the CPU can run, and which SIMD implementation the CPU kernels use.
//
// The kernels exist in three builds (generic, avx2, avx512; see attention_kernels.h). The best
// one the CPU supports is chosen at run time; CTXWIN_CPU_ISA=generic|avx2|avx512 (read once) or
// set_cpu_isa_override() asks for a specific one. A request the CPU cannot run falls back to the
// best supported build below it: it never selects code the CPU would fault on.
#pragma once

// The AVX2 and AVX-512 builds exist on x86-64 (binding.gyp compiles native/src/cpu/avx2 and
// avx512 there); -DCTXWIN_CPU_GENERIC_ONLY leaves them out (a portable-only build).
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(CTXWIN_CPU_GENERIC_ONLY)
#define CTXWIN_CPU_X86_BUILDS 1
#endif

namespace ctxwin::cpu {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
};

// Detected once (cpuid through __builtin_cpu_supports, which also checks that the OS saves the
// YMM/ZMM state); all false on non-x86 builds.
const CpuFeatures& cpu_features();

enum class CpuIsa { Generic = 0, Avx2 = 1, Avx512 = 2 };

const char* cpu_isa_name(CpuIsa isa);

// The best build this CPU (and this binary) can run.
CpuIsa best_supported_isa();

// The build in use: the override (clamped to what is supported), else best_supported_isa().
CpuIsa active_cpu_isa();

// Forces a build: "generic", "avx2", "avx512"; "auto", "" or nullptr restores the default (the
// CTXWIN_CPU_ISA variable, else the best). Throws ctxwin::Error (ERR_ARG) for an unknown name.
// Not synchronised with running kernels: call it between kernel launches (tests, benchmarks).
void set_cpu_isa_override(const char* name);

}  // namespace ctxwin::cpu
