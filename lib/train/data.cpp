#include "train/data.h"

#include <algorithm>
#include <numeric>
#include <random>

#include <torch/torch.h>

#include "core/error.h"

namespace lth::train {

Batch collate(const std::vector<Feature>& features, const std::vector<int64_t>& indices, LabelKind kind,
              int64_t pad_id, int64_t pad_to) {
  LTH_CHECK(!indices.empty(), Error, "collate: empty batch");
  int64_t length = pad_to;
  for (int64_t i : indices) length = std::max<int64_t>(length, static_cast<int64_t>(features[i].input_ids.size()));
  const int64_t rows = static_cast<int64_t>(indices.size());
  Batch b;
  b.indices = indices;
  b.input_ids = torch::full({rows, length}, pad_id, torch::kLong);
  b.attention_mask = torch::zeros({rows, length}, torch::kLong);
  b.token_type_ids = torch::zeros({rows, length}, torch::kLong);
  auto ids = b.input_ids.accessor<int64_t, 2>();
  auto mask = b.attention_mask.accessor<int64_t, 2>();
  auto types = b.token_type_ids.accessor<int64_t, 2>();
  if (kind == LabelKind::kPerToken) b.labels = torch::full({rows, length}, -100, torch::kLong);
  if (kind == LabelKind::kClass || kind == LabelKind::kSpan) b.labels = torch::zeros({rows}, torch::kLong);
  if (kind == LabelKind::kSpan) b.end_labels = torch::zeros({rows}, torch::kLong);
  if (kind == LabelKind::kRegression) b.labels = torch::zeros({rows}, torch::kFloat);
  for (int64_t r = 0; r < rows; ++r) {
    const Feature& f = features[static_cast<size_t>(indices[static_cast<size_t>(r)])];
    for (size_t t = 0; t < f.input_ids.size(); ++t) {
      ids[r][static_cast<int64_t>(t)] = f.input_ids[t];
      mask[r][static_cast<int64_t>(t)] = 1;
      types[r][static_cast<int64_t>(t)] = t < f.token_type_ids.size() ? f.token_type_ids[t] : 0;
    }
    switch (kind) {
      case LabelKind::kPerToken: {
        auto lab = b.labels.accessor<int64_t, 2>();
        for (size_t t = 0; t < f.labels.size(); ++t) lab[r][static_cast<int64_t>(t)] = f.labels[t];
        break;
      }
      case LabelKind::kClass:
        b.labels[r] = f.labels.empty() ? 0 : f.labels[0];
        break;
      case LabelKind::kRegression:
        b.labels[r] = f.target;
        break;
      case LabelKind::kSpan:
        b.labels[r] = f.start;
        b.end_labels[r] = f.end;
        break;
      case LabelKind::kNone:
        break;
    }
  }
  return b;
}

std::vector<std::vector<int64_t>> epoch_batches(const std::vector<Feature>& features, int64_t batch_size,
                                                uint64_t seed, int64_t epoch, bool group_by_length) {
  std::vector<int64_t> order(features.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed * 1000003ULL + static_cast<uint64_t>(epoch));
  std::shuffle(order.begin(), order.end(), rng);
  if (group_by_length) {
    const size_t mega = static_cast<size_t>(batch_size) * 50;
    for (size_t start = 0; start < order.size(); start += mega) {
      auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + mega));
      std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(start), end, [&](int64_t a, int64_t b) {
        return features[a].input_ids.size() > features[b].input_ids.size();
      });
    }
  }
  std::vector<std::vector<int64_t>> batches;
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size)) {
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + batch_size)));
  }
  if (group_by_length) std::shuffle(batches.begin(), batches.end(), rng);
  return batches;
}

std::vector<std::vector<int64_t>> eval_batches(const std::vector<Feature>& features, int64_t batch_size, bool sort) {
  std::vector<int64_t> order(features.size());
  std::iota(order.begin(), order.end(), 0);
  if (sort) {
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return features[a].input_ids.size() > features[b].input_ids.size();
    });
  }
  std::vector<std::vector<int64_t>> batches;
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size)) {
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + batch_size)));
  }
  return batches;
}

}  // namespace lth::train
