// The portable build of the row kernels (row_kernels_impl.h), and the dispatcher row_kernels().
#define CTXWIN_ROWK_NS rowk_generic
#define CTXWIN_ROWK_NAME "generic"
#include "cpu/ops/row_kernels_impl.h"

#include "cpu/cpu_features.h"

namespace ctxwin::cpu {

const RowKernels& row_kernels() {
#if defined(CTXWIN_X86_64)
  switch (active_cpu_isa()) {
    case CpuIsa::Avx512: return rowk_avx512::kernels();
    case CpuIsa::Avx2: return rowk_avx2::kernels();
    default: break;
  }
#endif
  return rowk_generic::kernels();
}

}  // namespace ctxwin::cpu
