// run_op: the wrapper every queued job goes through. It waits for pending inputs, propagates an
// input's error to the outputs instead of computing, runs the body, and turns any exception into
// an error carried by the outputs (reported when JS reads them).
#pragma once
#include <exception>
#include <functional>
#include <vector>

#include "ctxwin/error.h"
#include "runtime/storage.h"

namespace ctxwin {

inline void run_op(const std::vector<Storage*>& inputs, const std::vector<Storage*>& outputs,
                   const std::function<void()>& body) {
  for (Storage* in : inputs) {
    if (!in) continue;
    in->wait_ready();
    if (in->has_error()) {
      for (Storage* out : outputs)
        if (out) out->set_error(in->error_code(), in->error_message());
      return;
    }
  }
  try {
    body();
  } catch (const Error& e) {
    for (Storage* out : outputs)
      if (out) out->set_error(e.code(), e.what());
  } catch (const std::exception& e) {
    for (Storage* out : outputs)
      if (out) out->set_error("ERR_INTERNAL", e.what());
  } catch (...) {
    for (Storage* out : outputs)
      if (out) out->set_error("ERR_INTERNAL", "unknown native error");
  }
}

}  // namespace ctxwin
