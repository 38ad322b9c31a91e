// NativeTensor: the JS handle of one Storage. lib/tensor.ts wraps it in the public Tensor class;
// this object only owns (a reference to) the memory. dispose() drops that reference at once;
// the GC finalizer drops it otherwise. External memory is reported to V8 so that large tensors
// that are only garbage-collected (never disposed) still get collected.
#pragma once
#include <napi.h>

#include "runtime/storage.h"

namespace ctxwin::binding {

class NativeTensor : public Napi::ObjectWrap<NativeTensor> {
 public:
  static Napi::Function define(Napi::Env env);
  static Napi::Object wrap(Napi::Env env, StoragePtr storage);
  // The storage behind a JS value, or a JS error naming `arg` (not a tensor / disposed).
  static StoragePtr unwrap(const Napi::Value& value, const char* fn, const char* arg);

  explicit NativeTensor(const Napi::CallbackInfo& info);
  ~NativeTensor() override;
  void Finalize(Napi::Env env) override;

 private:
  Napi::Value dispose(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);
  void release(Napi::Env env);
  StoragePtr storage_;
  int64_t reported_bytes_ = 0;
};

}  // namespace ctxwin::binding
