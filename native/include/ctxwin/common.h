// Shared macros and small helpers for both backends.
#pragma once

#if defined(__CUDACC__)
#define CTXWIN_HD __host__ __device__ inline
#else
#define CTXWIN_HD inline
#endif
