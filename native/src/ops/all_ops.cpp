// The list of op families. Add a family here when you add native/src/ops/<family>.cpp.
#include "ops/op.h"

namespace ctxwin {

// Each family file defines one of these.
void register_elementwise_ops();
void register_matmul_ops();
void register_embedding_ops();
void register_norm_ops();
void register_activation_ops();
void register_softmax_ops();
void register_reduce_ops();
void register_shape_ops();
void register_optim_ops();
void register_gated_prefix_ops();

void register_all_ops() {
  static bool done = false;
  if (done) return;
  done = true;
  register_elementwise_ops();
  register_matmul_ops();
  register_embedding_ops();
  register_norm_ops();
  register_activation_ops();
  register_softmax_ops();
  register_reduce_ops();
  register_shape_ops();
  register_optim_ops();
  register_gated_prefix_ops();
}

}  // namespace ctxwin
