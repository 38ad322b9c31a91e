// The generic op interface: every op other than attention (GEMM, norms, activations, losses,
// optimizers, ...) is one OpDef, looked up by name.
//
//   native/src/ops/<family>.cpp      OpDef: argument checks + output shapes (JS thread)
//   native/src/cpu/ops/<family>.cpp  CPU kernel (device queue)      registered by name
//   native/src/cuda/ops/<family>.cu  CUDA kernel (device queue)     registered by name
//   lib/ops/<family>.ts              typed TS wrapper; test/ops/<family>.test.ts its test
//
// Conventions: inputs are read-only unless the OpDef lists them in `mutates` (optimizers update
// parameters in place); outputs are fresh tensors whose shapes/dtypes `infer` returns. Kernels
// compute in f32 whatever the storage dtype.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ctxwin/dtype.h"
#include "ctxwin/error.h"
#include "runtime/storage.h"

namespace ctxwin {

struct TensorSpec {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// Op attributes: numbers, strings and number lists from the JS options object.
class Attrs {
 public:
  std::map<std::string, double> nums;
  std::map<std::string, std::string> strs;
  std::map<std::string, std::vector<double>> lists;

  bool has(const std::string& k) const { return nums.count(k) || strs.count(k) || lists.count(k); }
  double num(const std::string& k, double dflt) const {
    auto it = nums.find(k);
    return it == nums.end() ? dflt : it->second;
  }
  double num(const std::string& op, const std::string& k) const {  // required
    auto it = nums.find(k);
    if (it == nums.end()) fail("ERR_ARG", op + ": " + k + ": expected a number, got nothing");
    return it->second;
  }
  int64_t integer(const std::string& k, int64_t dflt) const { return (int64_t)num(k, (double)dflt); }
  bool flag(const std::string& k, bool dflt = false) const { return num(k, dflt ? 1.0 : 0.0) != 0.0; }
  std::string str(const std::string& k, const std::string& dflt) const {
    auto it = strs.find(k);
    return it == strs.end() ? dflt : it->second;
  }
  const std::vector<double>& list(const std::string& k) const {
    static const std::vector<double>* empty = new std::vector<double>();  // never destroyed (see positional.cpp)
    auto it = lists.find(k);
    return it == lists.end() ? *empty : it->second;
  }
};

struct OpContext {
  const Attrs& attrs;
  std::vector<Storage*> in;   // read-only unless listed in OpDef::mutates
  std::vector<Storage*> out;  // fresh outputs
};

struct OpDef {
  std::string name;
  int num_inputs = -1;                 // -1: variable (infer checks)
  std::vector<int> mutates;            // indices of inputs written in place
  bool optional_inputs = false;        // inputs may be null (e.g. a missing bias)
  // Checks inputs/attrs and returns the output specs. Throws ctxwin::Error naming the argument.
  std::function<std::vector<TensorSpec>(const std::vector<const TensorSpec*>& in, const Attrs& attrs)> infer;
};

using OpKernel = std::function<void(OpContext& ctx)>;

// Registry (one per addon process).
void register_op(OpDef def);
const OpDef& find_op(const std::string& name);  // throws ERR_ARG for an unknown name
std::vector<std::string> op_names();

// Kernels per device kind ("cpu", "cuda").
void register_kernel(const std::string& device, const std::string& op, OpKernel kernel);
const OpKernel* find_kernel(const std::string& device, const std::string& op);  // null if none

// Called once at addon load: every OpDef and the kernels linked into this addon.
void register_all_ops();
void register_device_kernels();  // defined by the device implementation linked in

// Helpers for infer functions.
std::string shape_string(const std::vector<int64_t>& s);
[[noreturn]] void op_error(const std::string& op, const std::string& arg, const std::string& expected,
                           const std::string& got, const char* code = "ERR_SHAPE");

}  // namespace ctxwin
