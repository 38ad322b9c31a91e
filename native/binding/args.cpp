#include "binding/args.h"

#include <cmath>

#include "binding/js_errors.h"

namespace ctxwin::binding {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::vector<int64_t> read_shape(const Napi::Value& v, const char* fn, const char* arg) {
  Napi::Env env = v.Env();
  if (!v.IsArray()) throw make_js_error(env, "ERR_SHAPE", std::string(fn) + ": " + arg + ": expected an array of dims");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value d = a.Get(i);
    double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(x >= 0) || x != std::floor(x) || x > 9.0e15)
      throw make_js_error(env, "ERR_SHAPE", std::string(fn) + ": " + arg + ": expected non-negative integer dims");
    shape.push_back((int64_t)x);
  }
  return shape;
}

DType read_dtype(const Napi::Value& v, const char* fn, const char* arg) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "f32") return DType::F32;
  if (s == "bf16") return DType::BF16;
  if (s == "f16") return DType::F16;
  throw make_js_error(v.Env(), "ERR_DTYPE", std::string(fn) + ": " + arg + ": expected \"f32\", \"bf16\" or \"f16\", got " + (s.empty() ? "a non-string" : "\"" + s + "\""));
}

double read_number(const Napi::Value& v, const char* fn, const char* arg) {
  if (!v.IsNumber()) throw make_js_error(v.Env(), "ERR_ARG", std::string(fn) + ": " + arg + ": expected a number");
  return v.As<Napi::Number>().DoubleValue();
}

}  // namespace ctxwin::binding
