#include "tasks/task.h"

#include <array>

#include <torch/torch.h>

#include "core/error.h"
#include "tasks/glue/glue.h"
#include "train/dist.h"
#include "train/step.h"

namespace lth::tasks {

std::unique_ptr<Task> make_glue_task(const std::string& name, const TaskOptions& options,
                                     std::shared_ptr<const tokenize::Tokenizer> tokenizer);
std::unique_ptr<Task> make_mlm_task(const TaskOptions& options, std::shared_ptr<const tokenize::Tokenizer> tokenizer);
std::unique_ptr<Task> make_squad_task(const std::string& name, const TaskOptions& options,
                                      std::shared_ptr<const tokenize::Tokenizer> tokenizer);
std::unique_ptr<Task> make_ner_task(const TaskOptions& options, std::shared_ptr<const tokenize::Tokenizer> tokenizer);

train::Hooks task_hooks(Task& task, uint64_t seed) {
  train::Hooks hooks;
  hooks.evaluate = [&task](model::Bert& m, const train::EvalContext& context) {
    return task.evaluate(m, task.default_eval_split(), "", context);
  };
  hooks.main_metric = task.main_metric();
  hooks.transform_batch = task.batch_transform(seed);
  return hooks;
}

std::vector<std::string> task_names() {
  std::vector<std::string> names;
  for (const auto& t : glue::all_tasks()) names.push_back(t.name);
  names.push_back("squad/v1.1");
  names.push_back("squad/v2.0");
  names.push_back("ner/conll2003");
  names.push_back("mlm");
  return names;
}

std::unique_ptr<Task> make_task(const std::string& name, const TaskOptions& options,
                                std::shared_ptr<const tokenize::Tokenizer> tokenizer) {
  if (name == "mlm") return make_mlm_task(options, std::move(tokenizer));
  if (name == "squad/v1.1" || name == "squad/v2.0") return make_squad_task(name, options, std::move(tokenizer));
  if (name == "ner/conll2003") return make_ner_task(options, std::move(tokenizer));
  if (name.rfind("glue/", 0) == 0) {
    for (const auto& t : glue::all_tasks()) {
      if (t.name == name) return make_glue_task(name, options, std::move(tokenizer));
    }
  }
  LTH_FAIL(UsageError, "--task: unknown task '{}' (known: {})", name, fmt::join(task_names(), ", "));
}

namespace {

// The outputs predict hands on (logits, QA logits, pooler output) travel as one float32 buffer
// behind a header of shapes and dtypes; root's values arrive unchanged on every rank.
void broadcast_outputs(train::Dist& dist, model::BertOutputs& out, int root, const torch::Device& device) {
  std::array<at::Tensor*, 4> fields{&out.logits, &out.start_logits, &out.end_logits, &out.pooler_output};
  constexpr int64_t kSlot = 7;  // defined, dtype, ndim, up to 4 sizes
  at::Tensor header = torch::zeros({static_cast<int64_t>(fields.size()) * kSlot}, torch::kInt64);
  if (dist.rank() == root) {
    for (size_t f = 0; f < fields.size(); ++f) {
      const at::Tensor& t = *fields[f];
      if (!t.defined()) continue;
      LTH_CHECK(t.dim() <= 4, ShapeError, "predict: an output has {} dimensions", t.dim());
      auto slot = header.slice(0, static_cast<int64_t>(f) * kSlot, static_cast<int64_t>(f + 1) * kSlot);
      slot[0] = 1;
      slot[1] = static_cast<int64_t>(t.scalar_type());
      slot[2] = t.dim();
      for (int64_t d = 0; d < t.dim(); ++d) slot[3 + d] = t.size(d);
    }
  }
  dist.broadcast(header, root);
  std::vector<at::Tensor> parts;
  std::vector<std::vector<int64_t>> shapes(fields.size());
  int64_t total = 0;
  for (size_t f = 0; f < fields.size(); ++f) {
    const int64_t* h = header.data_ptr<int64_t>() + f * kSlot;
    if (h[0] == 0) continue;
    shapes[f].assign(h + 3, h + 3 + h[2]);
    int64_t n = 1;
    for (int64_t v : shapes[f]) n *= v;
    total += n;
    if (dist.rank() == root) parts.push_back(fields[f]->detach().to(torch::kFloat32).reshape({-1}));
  }
  at::Tensor buffer = dist.rank() == root ? (parts.empty() ? torch::zeros({0}) : torch::cat(parts).to(device))
                                          : torch::empty({total}, torch::TensorOptions().device(device));
  if (total > 0) dist.broadcast(buffer, root);
  if (dist.rank() == root) return;
  int64_t offset = 0;
  for (size_t f = 0; f < fields.size(); ++f) {
    const int64_t* h = header.data_ptr<int64_t>() + f * kSlot;
    if (h[0] == 0) continue;
    int64_t n = 1;
    for (int64_t v : shapes[f]) n *= v;
    *fields[f] = buffer.slice(0, offset, offset + n).view(shapes[f]).to(static_cast<at::ScalarType>(h[1]));
    offset += n;
  }
}

model::BertOutputs run_forward(const train::ForwardFn& forward, model::Bert& model, const train::Batch& batch,
                               const torch::Device& dev) {
  if (forward) return forward(model, batch, dev);
  return model->forward(batch.input_ids.to(dev), batch.attention_mask.to(dev), batch.token_type_ids.to(dev));
}

// Rounds of `world` batches: rank r runs batch k*world + r, then every batch of the round goes to
// every rank and is consumed in order, so metrics are those of a single process.
void predict_sharded(train::Dist& dist, const train::ForwardFn& forward, model::Bert& model,
                     const std::vector<train::Feature>& features, train::LabelKind kind, int64_t pad_id,
                     int64_t batch_size, const std::string& precision, const torch::Device& dev,
                     const std::function<void(const train::Batch&, const model::BertOutputs&)>& consume) {
  const auto batches = train::eval_batches(features, batch_size, true);
  const int64_t n = static_cast<int64_t>(batches.size()), world = dist.world_size();
  for (int64_t start = 0; start < n; start += world) {
    model::BertOutputs mine;
    const int64_t own = start + dist.rank();
    if (own < n) {
      auto batch = train::collate(features, batches[static_cast<size_t>(own)], kind, pad_id);
      train::with_precision(precision, [&] { mine = run_forward(forward, model, batch, dev); });
    }
    for (int64_t b = start; b < std::min(n, start + world); ++b) {
      const int root = static_cast<int>(b - start);
      model::BertOutputs out;
      if (root == dist.rank()) out = mine;
      broadcast_outputs(dist, out, root, dev);
      const auto batch = train::collate(features, batches[static_cast<size_t>(b)], kind, pad_id);
      train::with_precision(precision, [&] { consume(batch, out); });
    }
  }
}

}  // namespace

void predict(model::Bert& model, const train::EvalContext& context, const std::vector<train::Feature>& features,
             train::LabelKind kind, int64_t pad_id, int64_t batch_size,
             const std::function<void(const train::Batch&, const model::BertOutputs&)>& consume) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const torch::Device dev(context.device);
  const std::string& precision = context.precision;
  if (context.dist != nullptr) {  // data parallelism: each rank runs some batches, all see all
    predict_sharded(*context.dist, context.forward, model, features, kind, pad_id, batch_size, precision, dev, consume);
    if (was_training) model->train();
    return;
  }
  for (const auto& indices : train::eval_batches(features, batch_size, true)) {
    auto batch = train::collate(features, indices, kind, pad_id);
    train::with_precision(precision, [&] { consume(batch, run_forward(context.forward, model, batch, dev)); });
  }
  if (was_training) model->train();
}

}  // namespace lth::tasks
