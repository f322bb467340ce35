#include "train/dist.h"

#include <algorithm>

#include <torch/torch.h>

#include "core/error.h"

namespace lth::train {
namespace {

at::Tensor rows(const at::Tensor& t, int64_t begin, int64_t end) {
  return t.defined() ? t.slice(0, begin, end).contiguous() : t;
}

}  // namespace

std::string broadcast_string(Dist& dist, const std::string& value, int root) {
  at::Tensor size = torch::tensor({static_cast<int64_t>(value.size())}, torch::kInt64);
  dist.broadcast(size, root);
  const int64_t n = size.item<int64_t>();
  if (n == 0) return {};
  at::Tensor bytes = torch::empty({n}, torch::kUInt8);
  if (dist.rank() == root) std::copy(value.begin(), value.end(), bytes.data_ptr<uint8_t>());
  dist.broadcast(bytes, root);
  return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(n));
}

double shard_batch(Batch& batch, LabelKind kind, const Dist& dist) {
  const int64_t n = batch.input_ids.size(0);
  const int64_t world = dist.world_size(), rank = dist.rank();
  const int64_t begin = n * rank / world, end = n * (rank + 1) / world;
  auto units = [&](const at::Tensor& labels) -> int64_t {
    if (kind == LabelKind::kPerToken && labels.defined()) return labels.ne(-100).sum().item<int64_t>();
    return labels.defined() ? labels.size(0) : 0;
  };
  const int64_t total = kind == LabelKind::kPerToken ? units(batch.labels) : n;
  batch.input_ids = rows(batch.input_ids, begin, end);
  batch.attention_mask = rows(batch.attention_mask, begin, end);
  batch.token_type_ids = rows(batch.token_type_ids, begin, end);
  batch.labels = rows(batch.labels, begin, end);
  batch.end_labels = rows(batch.end_labels, begin, end);
  if (!batch.indices.empty()) {
    batch.indices = std::vector<int64_t>(batch.indices.begin() + begin, batch.indices.begin() + end);
  }
  const int64_t mine = kind == LabelKind::kPerToken ? units(batch.labels) : end - begin;
  if (mine == 0 || total == 0) return 0.0;
  return static_cast<double>(mine) * static_cast<double>(world) / static_cast<double>(total);
}

ReduceResult reduce_gradients(Dist& dist, const std::vector<at::Tensor>& parameters, double local_loss,
                              bool local_stop, int64_t bucket_bytes) {
  torch::NoGradGuard no_grad;
  const int64_t p = static_cast<int64_t>(parameters.size());
  // One small reduction first: which parameters have gradients anywhere, the loss, the stop flag.
  at::Tensor head = torch::zeros({p + 2}, torch::kFloat64);
  auto* h = head.data_ptr<double>();
  for (int64_t i = 0; i < p; ++i) h[i] = parameters[static_cast<size_t>(i)].grad().defined() ? 1.0 : 0.0;
  h[p] = local_loss;
  h[p + 1] = local_stop ? 1.0 : 0.0;
  const torch::Device device = p > 0 ? parameters[0].device() : torch::Device(torch::kCPU);
  std::vector<at::Tensor> small{head.to(device)};
  dist.all_reduce_sum(small);
  head = small[0].to(torch::kCPU);
  h = head.data_ptr<double>();
  ReduceResult result;
  result.loss = h[p] / static_cast<double>(dist.world_size());
  result.stop = h[p + 1] > 0.0;

  // Buckets of gradients, filled from the last parameter backwards (the order backward produces them).
  std::vector<std::vector<at::Tensor>> groups;
  std::vector<at::Tensor> flats;
  int64_t bytes = bucket_bytes;
  for (int64_t i = p - 1; i >= 0; --i) {
    if (h[i] <= 0.0) continue;
    at::Tensor param = parameters[static_cast<size_t>(i)];
    if (!param.grad().defined()) param.mutable_grad() = torch::zeros_like(param);
    const at::Tensor& g = param.grad();
    const int64_t size = g.numel() * static_cast<int64_t>(g.element_size());
    if (bytes + size > bucket_bytes || groups.empty() || groups.back().front().scalar_type() != g.scalar_type() ||
        groups.back().front().device() != g.device()) {
      groups.emplace_back();
      bytes = 0;
    }
    groups.back().push_back(g);
    bytes += size;
  }
  for (const auto& group : groups) {
    std::vector<at::Tensor> flat;
    for (const auto& g : group) flat.push_back(g.reshape({-1}));
    flats.push_back(torch::cat(flat));
  }
  dist.all_reduce_sum(flats);
  const double scale = 1.0 / static_cast<double>(dist.world_size());
  for (size_t b = 0; b < groups.size(); ++b) {
    flats[b].mul_(scale);
    int64_t offset = 0;
    for (auto& g : groups[b]) {
      const int64_t n = g.numel();
      g.copy_(flats[b].slice(0, offset, offset + n).view(g.sizes()));
      offset += n;
    }
  }
  return result;
}

}  // namespace lth::train
