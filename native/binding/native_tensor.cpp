#include "binding/native_tensor.h"

#include "binding/addon_data.h"
#include "binding/js_errors.h"

namespace ctxwin::binding {

Napi::Function NativeTensor::define(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {InstanceMethod<&NativeTensor::dispose>("dispose"),
                      InstanceAccessor<&NativeTensor::disposed>("disposed")});
}

NativeTensor::NativeTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTensor>(info) {}

NativeTensor::~NativeTensor() { storage_.reset(); }

void NativeTensor::Finalize(Napi::Env env) { release(env); }

Napi::Object NativeTensor::wrap(Napi::Env env, StoragePtr storage) {
  Napi::Object obj = addon_data(env).tensor_ctor.New({});
  NativeTensor* self = NativeTensor::Unwrap(obj);
  self->reported_bytes_ = (int64_t)storage->bytes();
  self->storage_ = std::move(storage);
  Napi::MemoryManagement::AdjustExternalMemory(env, self->reported_bytes_);
  return obj;
}

StoragePtr NativeTensor::unwrap(const Napi::Value& value, const char* fn, const char* arg) {
  Napi::Env env = value.Env();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(addon_data(env).tensor_ctor.Value())) {
    throw make_js_error(env, "ERR_ARG", std::string(fn) + ": " + arg + ": expected a Tensor");
  }
  NativeTensor* self = NativeTensor::Unwrap(value.As<Napi::Object>());
  if (!self->storage_) {
    throw make_js_error(env, "ERR_DISPOSED",
                        std::string(fn) + ": " + arg + ": expected a live tensor, got a disposed one");
  }
  return self->storage_;
}

void NativeTensor::release(Napi::Env env) {
  if (!storage_) return;
  storage_.reset();
  if (reported_bytes_ > 0) Napi::MemoryManagement::AdjustExternalMemory(env, -reported_bytes_);
  reported_bytes_ = 0;
}

Napi::Value NativeTensor::dispose(const Napi::CallbackInfo& info) {
  release(info.Env());
  return info.Env().Undefined();
}

Napi::Value NativeTensor::disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !storage_);
}

}  // namespace ctxwin::binding
