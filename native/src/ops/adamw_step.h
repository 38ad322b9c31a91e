// The arithmetic of one adamw op call that both backends must share exactly (OpDef:
// native/src/ops/optim.cpp): the step's scalars, computed in f64 and rounded once (as PyTorch
// does with its Python-float hyper-parameters), and the gradient-clipping coefficient. The CPU
// kernel reads the global norm on the host; the CUDA kernel evaluates adamw_clip on the device.
// Kept free of heavy includes: the ISA-specific row-kernel builds (-mavx2/-mavx512) include it.
#pragma once
#include <cmath>

#include "ctxwin/common.h"

namespace ctxwin {

class Attrs;

struct AdamWStep {
  float decay;                             // 1 - lr * weightDecay
  float beta1, beta2;
  float one_minus_beta1, one_minus_beta2;  // (1 - 0.999f would be 4.7e-5 off in f32)
  float step_size;                         // lr / (1 - beta1^step)
  float inv_bias_c2_sqrt;                  // 1 / sqrt(1 - beta2^step)
  float eps;
  float grad_mul;                          // gradScale * clip coefficient
};

// min(1, maxNorm / (|gradScale| * norm + 1e-6)); a NaN quotient gives 1 (as std::min(1.0, q)).
CTXWIN_HD double adamw_clip(double max_norm, double grad_scale, float norm) {
  double q = max_norm / (fabs(grad_scale) * (double)norm + 1e-6);
  return q < 1.0 ? q : 1.0;
}

// The scalars of a step from the op's attrs (lr, beta1, beta2, eps, weightDecay, step, gradScale);
// grad_mul = gradScale * clip. Defined in native/src/ops/optim.cpp.
AdamWStep adamw_step(const Attrs& a, double clip);

}  // namespace ctxwin
