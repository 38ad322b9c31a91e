// Tensor creation, transfer and elementwise ops exported to lib/backend.ts.
#include <cstring>
#include <future>
#include <memory>
#include <vector>

#include "binding/addon_data.h"
#include "binding/args.h"
#include "binding/js_errors.h"
#include "binding/native_tensor.h"
#include "binding/ops_exports.h"
#include "runtime/device.h"
#include "runtime/ops.h"

namespace ctxwin::binding {

namespace {

Device& dev() { return default_device(); }

StoragePtr new_storage(DType dtype, std::vector<int64_t> shape) {
  return std::make_shared<Storage>(&dev(), dtype, std::move(shape));
}

std::vector<float> copy_f32(const Napi::Value& v, int64_t expected, const char* fn) {
  Napi::Env env = v.Env();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw make_js_error(env, "ERR_ARG", std::string(fn) + ": data: expected a Float32Array");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if ((int64_t)a.ElementLength() != expected)
    throw make_js_error(env, "ERR_SHAPE", std::string(fn) + ": data: expected " + std::to_string(expected) +
                                              " elements, got " + std::to_string(a.ElementLength()));
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

// fromF32(data: Float32Array, shape: number[], dtype): NativeTensor
Napi::Value from_f32_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    auto shape = read_shape(info[1], "Tensor.from", "shape");
    DType dtype = read_dtype(info[2], "Tensor.from", "dtype");
    StoragePtr s = new_storage(dtype, shape);
    auto data = std::make_shared<std::vector<float>>(copy_f32(info[0], s->numel(), "Tensor.from"));
    dev().queue().submit([s, data] { run_op({}, {s.get()}, [&] { s->device()->upload_f32(*s, data->data()); }); });
    return NativeTensor::wrap(info.Env(), s);
  });
}

// createPending(shape, dtype): a tensor whose value arrives later through fulfill()/reject().
Napi::Value create_pending_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    auto shape = read_shape(info[0], "createPending", "shape");
    DType dtype = read_dtype(info[1], "createPending", "dtype");
    StoragePtr s = new_storage(dtype, shape);
    s->set_pending();
    return NativeTensor::wrap(info.Env(), s);
  });
}

// fulfill(t, data: Float32Array): uploads the value of a pending tensor and marks it ready.
Napi::Value fulfill_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    StoragePtr s = NativeTensor::unwrap(info[0], "fulfill", "tensor");
    auto data = std::make_shared<std::vector<float>>(copy_f32(info[1], s->numel(), "fulfill"));
    // Runs off the queue on purpose: queued jobs may be waiting on this very storage.
    std::thread([s, data] {
      try {
        s->device()->upload_f32(*s, data->data());
        s->set_ready();
      } catch (const Error& e) {
        s->set_error(e.code(), e.what());
      } catch (const std::exception& e) {
        s->set_error("ERR_INTERNAL", e.what());
      }
    }).detach();
    return info.Env().Undefined();
  });
}

// reject(t, code, message): a pending tensor whose source failed.
Napi::Value reject_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    StoragePtr s = NativeTensor::unwrap(info[0], "reject", "tensor");
    s->set_error(info[1].ToString().Utf8Value(), info[2].ToString().Utf8Value());
    return info.Env().Undefined();
  });
}

struct ReadResult {
  std::vector<float> values;
  std::string code, message;
};

std::shared_ptr<ReadResult> enqueue_read(const StoragePtr& s, std::function<void(std::shared_ptr<ReadResult>)> done) {
  auto r = std::make_shared<ReadResult>();
  dev().queue().submit([s, r, done] {
    s->wait_ready();
    if (s->has_error()) {
      r->code = s->error_code();
      r->message = s->error_message();
    } else {
      try {
        r->values.resize((size_t)s->numel());
        s->device()->download_f32(*s, r->values.data());
      } catch (const Error& e) {
        r->code = e.code();
        r->message = e.what();
      } catch (const std::exception& e) {
        r->code = "ERR_INTERNAL";
        r->message = e.what();
      }
    }
    done(r);
  });
  return r;
}

Napi::Value to_js(Napi::Env env, const ReadResult& r) {
  Napi::Float32Array a = Napi::Float32Array::New(env, r.values.size());
  if (!r.values.empty()) std::memcpy(a.Data(), r.values.data(), r.values.size() * sizeof(float));
  return a;
}

// read(t): Promise<Float32Array>, resolved on the main thread when the value is ready.
Napi::Value read_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    StoragePtr s = NativeTensor::unwrap(info[0], "data", "tensor");
    auto deferred = std::make_shared<Napi::Promise::Deferred>(Napi::Promise::Deferred::New(env));
    AddonData& data = addon_data(env);
    data.begin(env);
    enqueue_read(s, [&data, deferred](std::shared_ptr<ReadResult> r) {
      data.post([deferred, r](Napi::Env env) {
        if (!r->code.empty()) deferred->Reject(make_js_error(env, r->code, r->message).Value());
        else deferred->Resolve(to_js(env, *r));
      });
    });
    return deferred->Promise();
  });
}

// readSync(t): Float32Array — blocks the JS thread until the value is ready (dataSync()).
Napi::Value read_sync_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    StoragePtr s = NativeTensor::unwrap(info[0], "dataSync", "tensor");
    auto promise = std::make_shared<std::promise<std::shared_ptr<ReadResult>>>();
    auto future = promise->get_future();
    enqueue_read(s, [promise](std::shared_ptr<ReadResult> r) { promise->set_value(r); });
    std::shared_ptr<ReadResult> r = future.get();
    if (!r->code.empty()) throw make_js_error(info.Env(), r->code, r->message);
    return to_js(info.Env(), *r);
  });
}

// cast(t, dtype): a new tensor converted to dtype (round to nearest even).
Napi::Value cast_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    StoragePtr src = NativeTensor::unwrap(info[0], "to", "tensor");
    DType dtype = read_dtype(info[1], "to", "dtype");
    StoragePtr dst = new_storage(dtype, src->shape());
    dev().queue().submit([src, dst] { run_op({src.get()}, {dst.get()}, [&] { dst->device()->cast(*src, *dst); }); });
    return NativeTensor::wrap(info.Env(), dst);
  });
}

// axpby(alpha, a, beta, b | null): alpha*a + beta*b in a's dtype.
Napi::Value axpby_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    float alpha = (float)read_number(info[0], "axpby", "alpha");
    StoragePtr a = NativeTensor::unwrap(info[1], "axpby", "a");
    float beta = (float)read_number(info[2], "axpby", "beta");
    StoragePtr b;
    if (!info[3].IsNull() && !info[3].IsUndefined()) {
      b = NativeTensor::unwrap(info[3], "axpby", "b");
      if (b->shape() != a->shape())
        throw make_js_error(info.Env(), "ERR_SHAPE", "axpby: b: expected shape " + shape_str(a->shape()) + ", got " + shape_str(b->shape()));
    }
    StoragePtr dst = new_storage(a->dtype(), a->shape());
    dev().queue().submit([alpha, beta, a, b, dst] {
      run_op({a.get(), b.get()}, {dst.get()}, [&] { dst->device()->axpby(alpha, *a, beta, b.get(), *dst); });
    });
    return NativeTensor::wrap(info.Env(), dst);
  });
}

// synchronize(): Promise<void> once every op submitted so far has finished.
Napi::Value synchronize_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto deferred = std::make_shared<Napi::Promise::Deferred>(Napi::Promise::Deferred::New(env));
    AddonData& data = addon_data(env);
    data.begin(env);
    dev().queue().submit([&data, deferred] {
      std::string err;
      try {
        dev().synchronize();
      } catch (const std::exception& e) {
        err = e.what();
      }
      data.post([deferred, err](Napi::Env env) {
        if (!err.empty()) deferred->Reject(make_js_error(env, "ERR_DEVICE", err).Value());
        else deferred->Resolve(env.Undefined());
      });
    });
    return deferred->Promise();
  });
}

Napi::Value memory_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    MemoryStats m = memory_stats(dev().name());
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("tensors", Napi::Number::New(info.Env(), (double)m.tensors));
    o.Set("bytes", Napi::Number::New(info.Env(), (double)m.bytes));
    return o;
  });
}

Napi::Value info_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value { return Napi::String::New(info.Env(), dev().describe()); });
}

// reshape(t, shape): a view sharing t's memory (free; the element count must match).
Napi::Value reshape_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    StoragePtr s = NativeTensor::unwrap(info[0], "reshape", "tensor");
    auto shape = read_shape(info[1], "reshape", "shape");
    return NativeTensor::wrap(info.Env(), std::make_shared<Storage>(s, shape));
  });
}

// leadingView(t, shape): a view of t's first product(shape) elements, sharing its memory (free).
Napi::Value leading_view_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    StoragePtr s = NativeTensor::unwrap(info[0], "leadingView", "tensor");
    auto shape = read_shape(info[1], "leadingView", "shape");
    return NativeTensor::wrap(info.Env(), Storage::leading_view(s, shape));
  });
}

// selectVariant(name): kernel variant for later ops (CPU ISA); returns the active one.
Napi::Value select_variant_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "auto";
    return Napi::String::New(info.Env(), dev().select_variant(name));
  });
}

Napi::Value probe_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    dev().probe();
    return Napi::String::New(info.Env(), dev().name());
  });
}

}  // namespace

void export_tensor_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("fromF32", Napi::Function::New(env, from_f32_fn, "fromF32"));
  exports.Set("createPending", Napi::Function::New(env, create_pending_fn, "createPending"));
  exports.Set("fulfill", Napi::Function::New(env, fulfill_fn, "fulfill"));
  exports.Set("reject", Napi::Function::New(env, reject_fn, "reject"));
  exports.Set("read", Napi::Function::New(env, read_fn, "read"));
  exports.Set("readSync", Napi::Function::New(env, read_sync_fn, "readSync"));
  exports.Set("cast", Napi::Function::New(env, cast_fn, "cast"));
  exports.Set("axpby", Napi::Function::New(env, axpby_fn, "axpby"));
  exports.Set("synchronize", Napi::Function::New(env, synchronize_fn, "synchronize"));
  exports.Set("memory", Napi::Function::New(env, memory_fn, "memory"));
  exports.Set("info", Napi::Function::New(env, info_fn, "info"));
  exports.Set("probe", Napi::Function::New(env, probe_fn, "probe"));
  exports.Set("reshape", Napi::Function::New(env, reshape_fn, "reshape"));
  exports.Set("leadingView", Napi::Function::New(env, leading_view_fn, "leadingView"));
  exports.Set("selectVariant", Napi::Function::New(env, select_variant_fn, "selectVariant"));
}

}  // namespace ctxwin::binding
