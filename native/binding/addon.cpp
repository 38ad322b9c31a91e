// Module entry of both addons (CPU: ctxwin.node; CUDA: ctxwin_cuda.node). The device behind the
// exports is whichever Device implementation the addon links (see runtime/device.h).
#include <napi.h>

#include "binding/addon_data.h"
#include "binding/native_tensor.h"
#include "binding/ops_exports.h"
#include "runtime/device.h"

namespace ctxwin::binding {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData(env);
  env.SetInstanceData<AddonData>(data);
  Napi::Function ctor = NativeTensor::define(env);
  data->tensor_ctor = Napi::Persistent(ctor);
  exports.Set("NativeTensor", ctor);
  exports.Set("device", Napi::String::New(env, default_device().name()));
  export_tensor_ops(env, exports);
  export_attention_ops(env, exports);
  export_generic_ops(env, exports);
#ifndef CTXWIN_CUDA
  export_bench_ops(env, exports);
#endif
  return exports;
}

}  // namespace ctxwin::binding

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return ctxwin::binding::init(env, exports); }

NODE_API_MODULE(ctxwin, Init)
