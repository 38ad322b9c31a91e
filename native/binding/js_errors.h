// Turning native failures into JS errors: every exported function body runs inside guard(), so a
// C++ exception (ctxwin::Error or anything else) becomes a JS Error with a `code` property and
// never reaches the process boundary.
#pragma once
#include <napi.h>

#include <exception>
#include <string>

#include "ctxwin/error.h"

namespace ctxwin::binding {

inline Napi::Error make_js_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

template <typename Fn>
Napi::Value guard(const Napi::CallbackInfo& info, Fn&& fn) {
  Napi::Env env = info.Env();
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw make_js_error(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw make_js_error(env, "ERR_MEMORY", "out of memory");
  } catch (const std::exception& e) {
    throw make_js_error(env, "ERR_INTERNAL", e.what());
  } catch (...) {
    throw make_js_error(env, "ERR_INTERNAL", "unknown native error");
  }
}

}  // namespace ctxwin::binding
