// Shared helpers of the CPU op kernels (native/src/cpu/ops). Kernels compute in f32: half-type
// storages are converted on the way in and out.
#pragma once
#include <vector>

#include "ops/op.h"

namespace ctxwin::cpu {

// The storage's values as f32 (a copy; for f32 storages prefer f32_ptr()).
std::vector<float> read_f32(const Storage& s);
// Writes f32 values into the storage in its own dtype.
void write_f32(Storage& s, const std::vector<float>& values);
void write_f32(Storage& s, const float* values);
// Direct pointer when the storage is f32, else null.
inline float* f32_ptr(Storage& s) { return s.dtype() == DType::F32 ? (float*)s.data() : nullptr; }
inline const float* f32_ptr(const Storage& s) { return s.dtype() == DType::F32 ? (const float*)s.data() : nullptr; }

// Every family's registration function; all_kernels.cpp calls them.
void register_elementwise_kernels();
void register_all_cpu_kernels();

}  // namespace ctxwin::cpu
