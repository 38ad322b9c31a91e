// Per-environment state of the addon: the NativeTensor constructor and the completion channel
// through which device-queue jobs resolve JS promises on the main thread without blocking it.
// The channel's thread-safe function is referenced only while a completion is outstanding, so an
// idle addon never keeps the process alive.
#pragma once
#include <napi.h>

#include <functional>

namespace ctxwin::binding {

class AddonData {
 public:
  explicit AddonData(Napi::Env env);
  Napi::FunctionReference tensor_ctor;

  // Main thread: one more outstanding completion (keeps the event loop alive until it runs).
  void begin(Napi::Env env);
  // Any thread: run `fn` on the main thread later; the outstanding count drops after it ran.
  void post(std::function<void(Napi::Env)> fn);

 private:
  void end(Napi::Env env);
  Napi::ThreadSafeFunction tsfn_;
  int outstanding_ = 0;  // touched on the main thread only
};

AddonData& addon_data(Napi::Env env);

}  // namespace ctxwin::binding
