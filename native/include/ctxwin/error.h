// ctxwin::Error: every native failure is one of these. The binding turns it into a JS Error
// whose `code` property is `code` (ERR_ARG, ERR_SHAPE, ERR_DTYPE, ERR_DEVICE, ERR_CUDA,
// ERR_DISPOSED, ERR_INTERNAL). Native code never aborts the process.
#pragma once
#include <stdexcept>
#include <string>

namespace ctxwin {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

[[noreturn]] inline void fail(const char* code, const std::string& message) {
  throw Error(code, message);
}

}  // namespace ctxwin
