#include <mutex>

#include "ops/op.h"

namespace ctxwin {

namespace {
struct Registry {
  std::map<std::string, OpDef> ops;
  std::map<std::string, std::map<std::string, OpKernel>> kernels;  // device -> op -> kernel
};
Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}
}  // namespace

void register_op(OpDef def) {
  std::string name = def.name;
  registry().ops[name] = std::move(def);
}

const OpDef& find_op(const std::string& name) {
  auto it = registry().ops.find(name);
  if (it == registry().ops.end()) fail("ERR_ARG", "runOp: name: expected a known op, got \"" + name + "\"");
  return it->second;
}

std::vector<std::string> op_names() {
  std::vector<std::string> names;
  for (auto& kv : registry().ops) names.push_back(kv.first);
  return names;
}

void register_kernel(const std::string& device, const std::string& op, OpKernel kernel) {
  registry().kernels[device][op] = std::move(kernel);
}

const OpKernel* find_kernel(const std::string& device, const std::string& op) {
  auto d = registry().kernels.find(device);
  if (d == registry().kernels.end()) return nullptr;
  auto k = d->second.find(op);
  return k == d->second.end() ? nullptr : &k->second;
}

std::string shape_string(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

void op_error(const std::string& op, const std::string& arg, const std::string& expected, const std::string& got,
              const char* code) {
  fail(code, op + ": " + arg + ": expected " + expected + ", got " + got);
}

}  // namespace ctxwin
