// Argument readers for the binding: each names the function and argument in its error. The TS
// layer validates first with friendlier messages; these are the last line before native code.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "ctxwin/dtype.h"

namespace ctxwin::binding {

std::vector<int64_t> read_shape(const Napi::Value& v, const char* fn, const char* arg);
DType read_dtype(const Napi::Value& v, const char* fn, const char* arg);
double read_number(const Napi::Value& v, const char* fn, const char* arg);
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace ctxwin::binding
