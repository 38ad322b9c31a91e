// Copies along a dim. `dim` may be negative (counted from the end).
//
// concat(a, b; dim) -> a and b joined along dim (equal shapes elsewhere; a's dtype)
// slice(x; dim, start, end) -> x[..., start:end, ...] along dim, a copy (0 <= start <= end <= size)
// copy_into(dst, src; dim, start) (in place, no outputs): dst[..., start:start+len, ...] = src,
//   len = src's size along dim, src equal to dst elsewhere (KV caches)
#include "ops/op_util.h"

namespace ctxwin {

namespace {

void same_except(const std::string& op, const std::string& name, const TensorSpec& t, const std::string& ref_name,
                 const TensorSpec& ref, int64_t dim) {
  bool ok = t.shape.size() == ref.shape.size();
  for (size_t i = 0; ok && i < t.shape.size(); ++i)
    if ((int64_t)i != dim && t.shape[i] != ref.shape[i]) ok = false;
  if (!ok)
    op_error(op, name, "the shape of " + ref_name + " " + shape_string(ref.shape) + " except along dim " + std::to_string(dim),
             shape_string(t.shape));
}

std::vector<TensorSpec> infer_concat(const std::vector<const TensorSpec*>& in, const Attrs& at) {
  const char* op = "concat";
  opu::count(op, in, 2, 2);
  const TensorSpec& a = opu::req(op, in, 0, "a");
  const TensorSpec& b = opu::req(op, in, 1, "b");
  int64_t dim = opu::dim(op, at, "dim", (int64_t)a.shape.size());
  same_except(op, "b", b, "a", a, dim);
  std::vector<int64_t> out = a.shape;
  out[dim] += b.shape[dim];
  return {TensorSpec{a.dtype, out}};
}

std::vector<TensorSpec> infer_slice(const std::vector<const TensorSpec*>& in, const Attrs& at) {
  const char* op = "slice";
  opu::count(op, in, 1, 1);
  const TensorSpec& x = opu::req(op, in, 0, "x");
  int64_t dim = opu::dim(op, at, "dim", (int64_t)x.shape.size());
  int64_t size = x.shape[dim];
  int64_t start = opu::integer_req(op, at, "start", 0, size);
  int64_t end = opu::integer(op, at, "end", size, start, size);
  std::vector<int64_t> out = x.shape;
  out[dim] = end - start;
  return {TensorSpec{x.dtype, out}};
}

std::vector<TensorSpec> infer_copy_into(const std::vector<const TensorSpec*>& in, const Attrs& at) {
  const char* op = "copy_into";
  opu::count(op, in, 2, 2);
  const TensorSpec& dst = opu::req(op, in, 0, "dst");
  const TensorSpec& src = opu::req(op, in, 1, "src");
  int64_t dim = opu::dim(op, at, "dim", (int64_t)dst.shape.size());
  same_except(op, "src", src, "dst", dst, dim);
  int64_t room = dst.shape[dim];
  int64_t start = opu::integer_req(op, at, "start", 0, room);
  if (start + src.shape[dim] > room)
    op_error(op, "src", "at most " + std::to_string(room - start) + " entries along dim " + std::to_string(dim) +
                            " (dst has " + std::to_string(room) + ", start " + std::to_string(start) + ")",
             "shape " + shape_string(src.shape));
  return {};
}

}  // namespace

void register_shape_ops() {
  register_op({"concat", 2, {}, false, infer_concat});
  register_op({"slice", 1, {}, false, infer_slice});
  register_op({"copy_into", 2, {0}, false, infer_copy_into});
}

}  // namespace ctxwin
