// Training data after featurisation, batching (length-grouped, seeded) and collation with
// dynamic padding.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>

namespace lth::train {

// One model input. `labels` is one class id (sequence classification), one id per token (token
// classification / MLM, -100 = ignored), or empty; `target` is the regression value; `start`/`end`
// are answer token positions (question answering).
struct Feature {
  std::vector<int32_t> input_ids;
  std::vector<int8_t> token_type_ids;
  std::vector<int32_t> labels;
  float target = 0.0f;
  int32_t start = 0, end = 0;
};

struct Batch {
  at::Tensor input_ids, attention_mask, token_type_ids;  // [B, L] int64
  at::Tensor labels;      // [B] or [B, L] int64; or [B] float for regression
  at::Tensor end_labels;  // [B] int64 for question answering
  std::vector<int64_t> indices;  // which features, in order
};

enum class LabelKind { kNone, kClass, kRegression, kPerToken, kSpan };

// Pads to the longest feature (or to `pad_to` when > 0).
Batch collate(const std::vector<Feature>& features, const std::vector<int64_t>& indices, LabelKind kind,
              int64_t pad_id, int64_t pad_to = 0);

// The order of features for one epoch: a seeded shuffle; with `group_by_length`, shuffled
// mega-batches of 50 batches are sorted by length so batches hold similar lengths (less padding),
// then the batches themselves are shuffled. Deterministic in (seed, epoch).
std::vector<std::vector<int64_t>> epoch_batches(const std::vector<Feature>& features, int64_t batch_size,
                                                uint64_t seed, int64_t epoch, bool group_by_length);

// Batches in order (evaluation), sorted by length when `sort` (indices tell where each row goes).
std::vector<std::vector<int64_t>> eval_batches(const std::vector<Feature>& features, int64_t batch_size, bool sort);

}  // namespace lth::train
