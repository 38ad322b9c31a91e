// The list of op families. Add a family here when you add native/src/ops/<family>.cpp.
#include "ops/op.h"

namespace ctxwin {

// Each family file defines one of these.
void register_elementwise_ops();

void register_all_ops() {
  static bool done = false;
  if (done) return;
  done = true;
  register_elementwise_ops();
}

}  // namespace ctxwin
