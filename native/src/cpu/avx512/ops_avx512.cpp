// The AVX-512 build of the op row kernels (cpu/ops/row_kernels_impl.h). Compiled with
// -mavx512f/bw/dq/vl -mfma -mf16c; called only when cpu_features() says so.
#define CTXWIN_ROWK_NS rowk_avx512
#define CTXWIN_ROWK_NAME "avx512"
#include "cpu/ops/row_kernels_impl.h"
