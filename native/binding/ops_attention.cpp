// attentionForward / attentionBackward: argument checks on the JS thread, kernels on the queue.
//   attentionForward(q, k, v, opts)                      -> [out, lse]
//   attentionBackward(q, k, v, dout, opts, out?, lse?, dlse?)   -> [dq, dk, dv]
//     dlse: a gradient of the forward's lse too (needs out and lse; see AttentionBwdParams)
// When out/lse are not given (the public attentionBackward), the backward job first runs the
// forward to get them.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/attention_args.h"
#include "binding/js_errors.h"
#include "binding/native_tensor.h"
#include "binding/ops_exports.h"
#include "runtime/device.h"
#include "runtime/ops.h"

namespace ctxwin::binding {

namespace {

Device& dev() { return default_device(); }

StoragePtr new_storage(DType dtype, std::vector<int64_t> shape) {
  return std::make_shared<Storage>(&dev(), dtype, std::move(shape));
}

Napi::Object options_arg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (!info[i].IsObject()) throw make_js_error(info.Env(), "ERR_ARG", std::string(fn) + ": opts: expected an object");
  return info[i].As<Napi::Object>();
}

Napi::Value attention_forward_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const char* fn = "attention";
    StoragePtr q = NativeTensor::unwrap(info[0], fn, "q");
    StoragePtr k = NativeTensor::unwrap(info[1], fn, "k");
    StoragePtr v = NativeTensor::unwrap(info[2], fn, "v");
    auto call = std::make_shared<AttentionCall>(read_attention_call(fn, *q, *k, *v, options_arg(info, 3, fn)));
    const AttentionParams& p = call->prm;
    StoragePtr out = new_storage(q->dtype(), q->shape());
    StoragePtr lse = new_storage(DType::F32, {p.B, p.Hq, p.Tq});
    dev().queue().submit([call, q, k, v, out, lse] {
      run_op({q.get(), k.get(), v.get()}, {out.get(), lse.get()}, [&] {
        AttentionParams& prm = call->prm;
        std::shared_ptr<const ResolvedPositional> resolved =
            resolve_positional_cached(call->pos, prm.Hq, prm.D, prm.Tq, prm.Tk, prm.query_offset);
        const ResolvedPositional& pos = *resolved;
        call->bind_seq_keys();
        prm.q = q->data();
        prm.k = k->data();
        prm.v = v->data();
        prm.o = out->data();
        prm.lse = (float*)lse->data();
        out->device()->attention_forward(prm, pos);
      });
    });
    Napi::Array result = Napi::Array::New(info.Env(), 2);
    result.Set(0u, NativeTensor::wrap(info.Env(), out));
    result.Set(1u, NativeTensor::wrap(info.Env(), lse));
    return result;
  });
}

Napi::Value attention_backward_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const char* fn = "attentionBackward";
    StoragePtr q = NativeTensor::unwrap(info[0], fn, "q");
    StoragePtr k = NativeTensor::unwrap(info[1], fn, "k");
    StoragePtr v = NativeTensor::unwrap(info[2], fn, "v");
    StoragePtr dout = NativeTensor::unwrap(info[3], fn, "dOut");
    auto call = std::make_shared<AttentionCall>(read_attention_call(fn, *q, *k, *v, options_arg(info, 4, fn)));
    const AttentionParams& p = call->prm;
    if (dout->shape() != q->shape())
      throw make_js_error(info.Env(), "ERR_SHAPE", std::string(fn) + ": dOut: expected the shape of q " + shape_str(q->shape()) + ", got " + shape_str(dout->shape()));
    if (dout->dtype() != q->dtype())
      throw make_js_error(info.Env(), "ERR_DTYPE", std::string(fn) + ": dOut: expected dtype " + dtype_name(q->dtype()) + ", got " + dtype_name(dout->dtype()));
    StoragePtr out, lse;
    bool have_forward = info.Length() > 6 && info[5].IsObject() && info[6].IsObject();
    if (have_forward) {
      out = NativeTensor::unwrap(info[5], fn, "out");
      lse = NativeTensor::unwrap(info[6], fn, "lse");
      if (out->shape() != q->shape() || out->dtype() != q->dtype())
        throw make_js_error(info.Env(), "ERR_SHAPE", std::string(fn) + ": out: expected the forward output (shape and dtype of q)");
      std::vector<int64_t> lse_shape{p.B, p.Hq, p.Tq};
      if (lse->shape() != lse_shape || lse->dtype() != DType::F32)
        throw make_js_error(info.Env(), "ERR_SHAPE", std::string(fn) + ": lse: expected f32 " + shape_str(lse_shape) + ", got " + shape_str(lse->shape()));
    }
    StoragePtr dlse;
    if (info.Length() > 7 && info[7].IsObject()) {
      if (!have_forward)
        throw make_js_error(info.Env(), "ERR_ARG", std::string(fn) + ": dLse: expected out and lse of the forward with it (the gradient is of that lse)");
      dlse = NativeTensor::unwrap(info[7], fn, "dLse");
      if (dlse->shape() != lse->shape() || dlse->dtype() != DType::F32)
        throw make_js_error(info.Env(), "ERR_SHAPE", std::string(fn) + ": dLse: expected f32 " + shape_str(lse->shape()) + " (the shape of lse), got " + dtype_name(dlse->dtype()) + " " + shape_str(dlse->shape()));
    }
    StoragePtr dq = new_storage(q->dtype(), q->shape());
    StoragePtr dk = new_storage(k->dtype(), k->shape());
    StoragePtr dv = new_storage(v->dtype(), v->shape());
    dev().queue().submit([call, q, k, v, dout, out, lse, dlse, dq, dk, dv] {
      run_op({q.get(), k.get(), v.get(), dout.get(), out.get(), lse.get(), dlse.get()}, {dq.get(), dk.get(), dv.get()}, [&] {
        AttentionBwdParams prm;
        call->bind_seq_keys();
        static_cast<AttentionParams&>(prm) = call->prm;
        std::shared_ptr<const ResolvedPositional> resolved =
            resolve_positional_cached(call->pos, prm.Hq, prm.D, prm.Tq, prm.Tk, prm.query_offset);
        const ResolvedPositional& pos = *resolved;
        prm.q = q->data();
        prm.k = k->data();
        prm.v = v->data();
        StoragePtr fwd_out = out, fwd_lse = lse;
        if (!fwd_out) {  // recompute the forward: the public API does not pass it
          fwd_out = std::make_shared<Storage>(q->device(), q->dtype(), q->shape());
          fwd_lse = std::make_shared<Storage>(q->device(), DType::F32, std::vector<int64_t>{prm.B, prm.Hq, prm.Tq});
          AttentionParams fwd = prm;
          fwd.o = fwd_out->data();
          fwd.lse = (float*)fwd_lse->data();
          q->device()->attention_forward(fwd, pos);
        }
        prm.o = fwd_out->data();
        prm.lse = (float*)fwd_lse->data();
        prm.dout = dout->data();
        prm.dlse = dlse ? (const float*)dlse->data() : nullptr;
        prm.dq = dq->data();
        prm.dk = dk->data();
        prm.dv = dv->data();
        q->device()->attention_backward(prm, pos);
      });
    });
    Napi::Array result = Napi::Array::New(info.Env(), 3);
    result.Set(0u, NativeTensor::wrap(info.Env(), dq));
    result.Set(1u, NativeTensor::wrap(info.Env(), dk));
    result.Set(2u, NativeTensor::wrap(info.Env(), dv));
    return result;
  });
}

// attentionDecodeRagged(q, kNew, vNew, kCaches[], vCaches[], lengths[], opts) -> out
// A batch whose sequences have KV caches of their own (a batching engine's decode or prefill
// step), in ONE queued job: for each sequence b, kNew[b] / vNew[b] ([Tn, Hkv, D]; Tn >= Tq when a
// prefix comes first) are written into its cache buffers ([1, capacity, Hkv, D]) after its
// lengths[b] cached positions, and its Tq queries attend to its lengths[b] + Tn keys, sitting
// after them (one kernel call per sequence, no per-sequence JS ops). CPU only: the CUDA engine
// path keeps the per-sequence ops.
Napi::Value attention_decode_ragged_fn(const Napi::CallbackInfo& info) {
  return guard(info, [&]() -> Napi::Value {
    const char* fn = "attentionDecodeRagged";
    StoragePtr q = NativeTensor::unwrap(info[0], fn, "q");
    StoragePtr kn = NativeTensor::unwrap(info[1], fn, "kNew");
    StoragePtr vn = NativeTensor::unwrap(info[2], fn, "vNew");
    if (!info[3].IsArray() || !info[4].IsArray() || !info[5].IsArray())
      throw make_js_error(info.Env(), "ERR_ARG", std::string(fn) + ": kCaches, vCaches, lengths: expected arrays");
    auto call = std::make_shared<AttentionCall>(read_attention_call(fn, *q, *kn, *vn, options_arg(info, 6, fn)));
    // prefix keys count in the caches' positions (the first P of every cache), not in kNew
    Napi::Value cpk = options_arg(info, 6, fn).Get("cachePrefixKeys");
    call->prm.prefix_keys = cpk.IsNumber() ? cpk.As<Napi::Number>().Int32Value() : 0;
    const AttentionParams& p = call->prm;
    if (std::string(q->device()->name()) != "cpu")
      throw make_js_error(info.Env(), "ERR_DEVICE", std::string(fn) + ": q: expected a CPU tensor (the CUDA path runs per sequence)");
    Napi::Array ka = info[3].As<Napi::Array>(), va = info[4].As<Napi::Array>(), la = info[5].As<Napi::Array>();
    if (ka.Length() != (uint32_t)p.B || va.Length() != (uint32_t)p.B || la.Length() != (uint32_t)p.B)
      throw make_js_error(info.Env(), "ERR_ARG", std::string(fn) + ": kCaches, vCaches, lengths: expected " + std::to_string(p.B) + " entries each (the batch)");
    std::vector<StoragePtr> kc, vc;
    std::vector<int> lengths;
    std::vector<Storage*> inputs{q.get(), kn.get(), vn.get()};
    for (uint32_t b = 0; b < ka.Length(); ++b) {
      StoragePtr kb = NativeTensor::unwrap(ka.Get(b), fn, "kCaches[b]");
      StoragePtr vb = NativeTensor::unwrap(va.Get(b), fn, "vCaches[b]");
      double len = la.Get(b).IsNumber() ? la.Get(b).As<Napi::Number>().DoubleValue() : -1;
      const std::vector<int64_t>& s = kb->shape();
      bool ok = s.size() == 4 && s[0] == 1 && s[2] == p.Hkv && s[3] == p.D && vb->shape() == s && kb->dtype() == q->dtype() && vb->dtype() == q->dtype();
      if (!ok) throw make_js_error(info.Env(), "ERR_SHAPE", std::string(fn) + ": kCaches[" + std::to_string(b) + "]: expected k and v buffers [1, capacity, " + std::to_string(p.Hkv) + ", " + std::to_string(p.D) + "] of q's dtype, got " + shape_str(s));
      if (!(len >= 0 && len == (double)(int)len && (int64_t)len + p.Tk <= s[1] && p.prefix_keys >= 0 && p.prefix_keys <= len + p.Tk))
        throw make_js_error(info.Env(), "ERR_ARG", std::string(fn) + ": lengths[" + std::to_string(b) + "]: expected an integer in [0, " + std::to_string(s[1] - p.Tk) + "] (room for " + std::to_string(p.Tk) + " more), got " + std::to_string(len) + " (prefix keys " + std::to_string(p.prefix_keys) + ")");
      kc.push_back(kb);
      vc.push_back(vb);
      lengths.push_back((int)len);
      inputs.push_back(kb.get());
      inputs.push_back(vb.get());
    }
    StoragePtr out = new_storage(q->dtype(), q->shape());
    dev().queue().submit([call, q, kn, vn, kc, vc, lengths, out, inputs] {
      run_op(inputs, {out.get()}, [&] {
        const AttentionParams& base = call->prm;
        const size_t es = dtype_size(q->dtype());
        const size_t q_rows = (size_t)base.Tq * base.Hq * base.D, kv_rows = (size_t)base.Tk * base.Hkv * base.D;
        const size_t B = kc.size();
        std::vector<float> lse(B * base.Hq * base.Tq);
        std::vector<AttentionParams> prms(B, base);
        std::vector<std::shared_ptr<const ResolvedPositional>> resolved(B);
        for (size_t b = 0; b < B; ++b) {
          const int len = lengths[b];
          char* kdst = (char*)kc[b]->data() + (size_t)len * base.Hkv * base.D * es;
          char* vdst = (char*)vc[b]->data() + (size_t)len * base.Hkv * base.D * es;
          std::memcpy(kdst, (const char*)kn->data() + b * kv_rows * es, kv_rows * es);
          std::memcpy(vdst, (const char*)vn->data() + b * kv_rows * es, kv_rows * es);
          AttentionParams& prm = prms[b];
          prm.B = 1;
          prm.Tk = len + base.Tk;
          prm.query_offset = len + base.Tk - base.Tq;  // after its own keys
          resolved[b] = resolve_positional_cached(call->pos, prm.Hq, prm.D, prm.Tq, prm.Tk, prm.query_offset);
          prm.q = (const char*)q->data() + b * q_rows * es;
          prm.k = kc[b]->data();
          prm.v = vc[b]->data();
          prm.o = (char*)out->data() + b * q_rows * es;
          prm.lse = lse.data() + b * base.Hq * base.Tq;
        }
        std::vector<AttentionParams*> pp(B);
        std::vector<const ResolvedPositional*> rp(B);
        for (size_t b = 0; b < B; ++b) {
          pp[b] = &prms[b];
          rp[b] = resolved[b].get();
        }
        q->device()->attention_forward_many(pp.data(), rp.data(), (int)B);
      });
    });
    return NativeTensor::wrap(info.Env(), out);
  });
}

}  // namespace

// alibiSlopes(heads): the default ALiBi slopes (positional.h), so JS never re-derives them.
static Napi::Value alibi_slopes_fn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "alibiSlopes: heads: expected a positive integer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double h = info[0].As<Napi::Number>().DoubleValue();
  if (!(h >= 1 && h <= 65536) || h != static_cast<double>(static_cast<int>(h))) {
    Napi::RangeError::New(env, "alibiSlopes: heads: expected an integer in [1, 65536]").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::vector<double> s = alibi_default_slopes(static_cast<int>(h));
  Napi::Array out = Napi::Array::New(env, s.size());
  for (uint32_t i = 0; i < s.size(); ++i) out.Set(i, Napi::Number::New(env, s[i]));
  return out;
}

void export_attention_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("alibiSlopes", Napi::Function::New(env, alibi_slopes_fn, "alibiSlopes"));
  exports.Set("attentionForward", Napi::Function::New(env, attention_forward_fn, "attentionForward"));
  exports.Set("attentionBackward", Napi::Function::New(env, attention_backward_fn, "attentionBackward"));
  exports.Set("attentionDecodeRagged", Napi::Function::New(env, attention_decode_ragged_fn, "attentionDecodeRagged"));
}

}  // namespace ctxwin::binding
