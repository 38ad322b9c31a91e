// runOp(name, inputs, attrs): every registered op (native/src/ops) through one entry point.
// Returns [[handle, shape, dtype], ...] for the outputs. Checks run here on the JS thread
// (OpDef::infer); the kernel runs on the device queue.
#include <memory>

#include "binding/args.h"
#include "binding/js_errors.h"
#include "binding/native_tensor.h"
#include "binding/ops_exports.h"
#include "ops/op.h"
#include "runtime/device.h"
#include "runtime/ops.h"

namespace ctxwin::binding {

namespace {

Attrs read_attrs(const Napi::Value& v, const std::string& op) {
  Attrs a;
  if (v.IsUndefined() || v.IsNull()) return a;
  if (!v.IsObject()) throw make_js_error(v.Env(), "ERR_ARG", op + ": attrs: expected an object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string k = keys.Get(i).ToString().Utf8Value();
    Napi::Value x = o.Get(k);
    if (x.IsNumber()) a.nums[k] = x.As<Napi::Number>().DoubleValue();
    else if (x.IsBoolean()) a.nums[k] = x.As<Napi::Boolean>().Value() ? 1.0 : 0.0;
    else if (x.IsString()) a.strs[k] = x.As<Napi::String>().Utf8Value();
    else if (x.IsArray()) {
      Napi::Array arr = x.As<Napi::Array>();
      std::vector<double> list;
      for (uint32_t j = 0; j < arr.Length(); ++j) list.push_back(arr.Get(j).ToNumber().DoubleValue());
      a.lists[k] = std::move(list);
    } else if (!x.IsUndefined() && !x.IsNull()) {
      throw make_js_error(v.Env(), "ERR_ARG", op + ": attrs." + k + ": expected a number, boolean, string or array");
    }
  }
  return a;
}

Napi::Value run_op_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw make_js_error(env, "ERR_ARG", "runOp: name: expected a string");
    std::string name = info[0].As<Napi::String>().Utf8Value();
    const OpDef& def = find_op(name);
    Device& dev = default_device();
    const OpKernel* kernel = find_kernel(dev.name(), name);
    if (!kernel) throw make_js_error(env, "ERR_DEVICE", name + ": not implemented on the " + std::string(dev.name()) + " backend");
    if (!info[1].IsArray()) throw make_js_error(env, "ERR_ARG", name + ": inputs: expected an array of tensors");
    Napi::Array arr = info[1].As<Napi::Array>();
    if (def.num_inputs >= 0 && (int)arr.Length() != def.num_inputs)
      throw make_js_error(env, "ERR_ARG", name + ": inputs: expected " + std::to_string(def.num_inputs) + " tensors, got " + std::to_string(arr.Length()));
    std::vector<StoragePtr> inputs;
    std::vector<TensorSpec> specs(arr.Length());
    std::vector<const TensorSpec*> spec_ptrs;
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value x = arr.Get(i);
      if ((x.IsNull() || x.IsUndefined()) && def.optional_inputs) {
        inputs.push_back(nullptr);
        spec_ptrs.push_back(nullptr);
        continue;
      }
      std::string arg = "inputs[" + std::to_string(i) + "]";
      inputs.push_back(NativeTensor::unwrap(x, name.c_str(), arg.c_str()));
      specs[i] = TensorSpec{inputs.back()->dtype(), inputs.back()->shape()};
      spec_ptrs.push_back(&specs[i]);
    }
    auto attrs = std::make_shared<Attrs>(read_attrs(info[2], name));
    std::vector<TensorSpec> out_specs = def.infer(spec_ptrs, *attrs);
    std::vector<StoragePtr> outputs;
    for (auto& s : out_specs) outputs.push_back(std::make_shared<Storage>(&dev, s.dtype, s.shape));
    OpKernel k = *kernel;
    std::vector<int> mutates = def.mutates;
    dev.queue().submit([inputs, outputs, attrs, k, mutates] {
      std::vector<Storage*> in, out;
      for (auto& s : inputs) in.push_back(s.get());
      for (auto& s : outputs) out.push_back(s.get());
      // In-place ops (optimizers, cache writes) have few or no outputs: the inputs they mutate
      // carry a failure too, so that reading them later reports it instead of stale values.
      std::vector<Storage*> carriers = out;
      for (int m : mutates)
        if (m >= 0 && m < (int)in.size() && in[m]) carriers.push_back(in[m]);
      run_op(in, carriers, [&] {
        OpContext ctx{*attrs, in, out};
        k(ctx);
      });
    });
    Napi::Array result = Napi::Array::New(env, outputs.size());
    for (size_t i = 0; i < outputs.size(); ++i) {
      Napi::Array entry = Napi::Array::New(env, 3);
      entry.Set(0u, NativeTensor::wrap(env, outputs[i]));
      Napi::Array shape = Napi::Array::New(env, outputs[i]->shape().size());
      for (size_t j = 0; j < outputs[i]->shape().size(); ++j) shape.Set((uint32_t)j, Napi::Number::New(env, (double)outputs[i]->shape()[j]));
      entry.Set(1u, shape);
      entry.Set(2u, Napi::String::New(env, dtype_name(outputs[i]->dtype())));
      result.Set((uint32_t)i, entry);
    }
    return result;
  });
}

Napi::Value op_names_fn(const Napi::CallbackInfo& info) {
  std::vector<std::string> names = op_names();
  Napi::Array a = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) a.Set((uint32_t)i, Napi::String::New(info.Env(), names[i]));
  return a;
}

// The ops that have a kernel on this addon's device (the CUDA addon answers without touching CUDA:
// kernels are registered at load), so a missing registration shows on any host.
Napi::Value op_kernels_fn(const Napi::CallbackInfo& info) {
  const char* device = default_device().name();
  Napi::Array a = Napi::Array::New(info.Env());
  uint32_t n = 0;
  for (const std::string& name : op_names())
    if (find_kernel(device, name)) a.Set(n++, Napi::String::New(info.Env(), name));
  return a;
}

}  // namespace

void export_generic_ops(Napi::Env env, Napi::Object exports) {
  register_all_ops();
  register_device_kernels();
  exports.Set("runOp", Napi::Function::New(env, run_op_fn, "runOp"));
  exports.Set("opNames", Napi::Function::New(env, op_names_fn, "opNames"));
  exports.Set("opKernels", Napi::Function::New(env, op_kernels_fn, "opKernels"));
}

}  // namespace ctxwin::binding
