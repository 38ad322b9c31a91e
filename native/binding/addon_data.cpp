#include "binding/addon_data.h"

#include <memory>

namespace ctxwin::binding {

namespace {
struct Closure {
  std::function<void(Napi::Env)> fn;
  AddonData* owner;
};
}  // namespace

AddonData::AddonData(Napi::Env env) {
  tsfn_ = Napi::ThreadSafeFunction::New(
      env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "ctxwin-completions", 0, 1);
  tsfn_.Unref(env);
}

void AddonData::begin(Napi::Env env) {
  if (outstanding_++ == 0) tsfn_.Ref(env);
}

void AddonData::end(Napi::Env env) {
  if (--outstanding_ == 0) tsfn_.Unref(env);
}

void AddonData::post(std::function<void(Napi::Env)> fn) {
  auto* c = new Closure{std::move(fn), this};
  napi_status st = tsfn_.NonBlockingCall(c, [](Napi::Env env, Napi::Function, Closure* c) {
    std::unique_ptr<Closure> owned(c);
    if (env == nullptr) return;  // the environment is shutting down
    try {
      owned->fn(env);
    } catch (...) {
      // A promise callback cannot throw into the event loop; errors were turned into rejections.
    }
    owned->owner->end(env);
  });
  if (st != napi_ok) delete c;  // closing: nobody is left to resolve
}

AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace ctxwin::binding
