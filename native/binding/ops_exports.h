// One function per group of exported ops; addon.cpp calls them all.
#pragma once
#include <napi.h>

namespace ctxwin::binding {
void export_tensor_ops(Napi::Env env, Napi::Object exports);
void export_attention_ops(Napi::Env env, Napi::Object exports);
// runOp(name, inputs, attrs): every op registered in native/src/ops.
void export_generic_ops(Napi::Env env, Napi::Object exports);
// CPU addon only (native/src/bench): sgemm ceiling and unfused baseline for bench/attention.
void export_bench_ops(Napi::Env env, Napi::Object exports);
}  // namespace ctxwin::binding
