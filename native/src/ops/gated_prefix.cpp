// Gated prefix attention (adaptive prefix tuning, seed 004): a small exact attention over P
// prefix keys whose key and value are scaled per (query, prefix token) by
// c = lambda * sigmoid(gate logit),
// merged with an attention over the real tokens (the fused kernel's o and lse) through their
// log-sum-exp, as split-KV decoding merges partial results. Per row (b, t), head h, kv head
// hk = h / (H / Hkv):
//   s_p  = scale * c_p * (q . kp[p, hk])     c_p = lambda * sigmoid(gate[b, t or 0, p])
//   lse  = log(exp(lse_r) + sum_p exp(s_p))
//   out  = exp(lse_r - lse) * o_r + sum_p exp(s_p - lse) * c_p * vp[p, hk]
// A row with lse_r = -inf (a padding row of the fused attention) gives out = 0, lse = -inf and
// zero gradients.
//
// gated_prefix_attention(q [B,T,H,D], kp [P,Hkv,D], vp [P,Hkv,D], gate [B,Tg,P] (logits; Tg = T:
//   a gate per token; Tg = 1: one per sequence), lambda [1], o_r [B,T,H,D], lse_r [B,H,T];
//   softmaxScale > 0) -> out [B,T,H,D], lse [B,H,T]
// gated_prefix_attention_backward(the 7 inputs, out, lse, dout [B,T,H,D])
//   -> dq, dkp, dvp, dgate, dlambda, do_r, dlse_r (shapes of q, kp, vp, gate, lambda, o_r, lse_r)
// Every tensor f32.
#include "ops/op_util.h"

namespace ctxwin {

namespace {

struct Shapes {
  int64_t B, T, H, D, P, Hkv, Tg;
};

Shapes check_inputs(const char* op, const std::vector<const TensorSpec*>& in, const Attrs& at) {
  const char* names[] = {"q", "kp", "vp", "gate", "lambda", "o_r", "lse_r"};
  for (int i = 0; i < 7; ++i) opu::is_f32(op, names[i], opu::req(op, in, i, names[i]));
  const TensorSpec& q = *in[0];
  const TensorSpec& kp = *in[1];
  const TensorSpec& vp = *in[2];
  const TensorSpec& gate = *in[3];
  opu::rank_is(op, "q", q, 4);
  opu::rank_is(op, "kp", kp, 3);
  opu::same_shape(op, "vp", vp, "kp", kp);
  Shapes s{q.shape[0], q.shape[1], q.shape[2], q.shape[3], kp.shape[0], kp.shape[1], 0};
  if (s.P < 1) op_error(op, "kp", "at least one prefix key", "shape " + shape_string(kp.shape));
  if (kp.shape[2] != s.D) op_error(op, "kp", "head dim " + std::to_string(s.D) + " (as q)", "shape " + shape_string(kp.shape));
  if (s.Hkv < 1 || s.H % s.Hkv != 0)
    op_error(op, "kp", "a kv head count dividing q's " + std::to_string(s.H) + " heads", "shape " + shape_string(kp.shape));
  opu::rank_is(op, "gate", gate, 3);
  s.Tg = gate.shape[1];
  if (gate.shape[0] != s.B || (s.Tg != s.T && s.Tg != 1) || gate.shape[2] != s.P)
    op_error(op, "gate", "[" + std::to_string(s.B) + ", " + std::to_string(s.T) + " or 1, " + std::to_string(s.P) + "]",
             "shape " + shape_string(gate.shape));
  if (in[4]->shape != std::vector<int64_t>{1}) op_error(op, "lambda", "shape [1]", "shape " + shape_string(in[4]->shape));
  opu::same_shape(op, "o_r", *in[5], "q", q);
  std::vector<int64_t> lse_shape{s.B, s.H, s.T};
  if (in[6]->shape != lse_shape) op_error(op, "lse_r", "shape " + shape_string(lse_shape), "shape " + shape_string(in[6]->shape));
  opu::positive(op, at, "softmaxScale", 1.0);
  return s;
}

std::vector<TensorSpec> infer_forward(const std::vector<const TensorSpec*>& in, const Attrs& at) {
  const char* op = "gated_prefix_attention";
  opu::count(op, in, 7, 7);
  Shapes s = check_inputs(op, in, at);
  return {TensorSpec{DType::F32, in[0]->shape}, TensorSpec{DType::F32, {s.B, s.H, s.T}}};
}

std::vector<TensorSpec> infer_backward(const std::vector<const TensorSpec*>& in, const Attrs& at) {
  const char* op = "gated_prefix_attention_backward";
  opu::count(op, in, 10, 10);
  Shapes s = check_inputs(op, in, at);
  const char* names[] = {"out", "lse", "dout"};
  for (int i = 0; i < 3; ++i) opu::is_f32(op, names[i], opu::req(op, in, 7 + i, names[i]));
  opu::same_shape(op, "out", *in[7], "q", *in[0]);
  opu::same_shape(op, "lse", *in[8], "lse_r", *in[6]);
  opu::same_shape(op, "dout", *in[9], "q", *in[0]);
  (void)s;
  std::vector<TensorSpec> out;
  for (int i = 0; i < 7; ++i) out.push_back(TensorSpec{DType::F32, in[i]->shape});
  return out;
}

}  // namespace

void register_gated_prefix_ops() {
  register_op({"gated_prefix_attention", 7, {}, false, infer_forward});
  register_op({"gated_prefix_attention_backward", 10, {}, false, infer_backward});
}

}  // namespace ctxwin
