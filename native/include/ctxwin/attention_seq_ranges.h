// Host-side check of AttentionParams' per-sequence token ranges (key_begin / key_end): the one
// definition the CPU plan and the CUDA device use, so both backends reject the same ranges with
// the same words. Reads the arrays, so it runs on host pointers (the CUDA device checks them
// before uploading; the CUDA dispatcher itself only sees device pointers).
#pragma once
#include "ctxwin/attention_params.h"

namespace ctxwin {

// What is wrong with p's per-sequence ranges, or nullptr when they are valid (or absent).
inline const char* attention_seq_ranges_error(const AttentionParams& p) {
  if ((p.key_begin == nullptr) != (p.key_end == nullptr)) return "expected key_begin and key_end both set or both null";
  if (p.key_begin) {
    for (int b = 0; b < p.B; ++b)
      if (!(p.key_begin[b] >= 0 && p.key_begin[b] < p.key_end[b] && p.key_end[b] <= p.Tk))
        return "expected 0 <= key_begin[b] < key_end[b] <= Tk for every sequence";
  }
  return nullptr;
}

}  // namespace ctxwin
