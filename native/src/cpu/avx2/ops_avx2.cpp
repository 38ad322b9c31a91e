// The AVX2 + FMA + F16C build of the op row kernels (cpu/ops/row_kernels_impl.h). Compiled with
// -mavx2 -mfma -mf16c; called only when cpu_features() says so.
#define CTXWIN_ROWK_NS rowk_avx2
#define CTXWIN_ROWK_NAME "avx2"
#include "cpu/ops/row_kernels_impl.h"
