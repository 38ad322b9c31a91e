// One function per group of exported ops; addon.cpp calls them all.
#pragma once
#include <napi.h>

namespace ctxwin::binding {
void export_tensor_ops(Napi::Env env, Napi::Object exports);
void export_attention_ops(Napi::Env env, Napi::Object exports);
}  // namespace ctxwin::binding
