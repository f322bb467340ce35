#include "tasks/task.h"

#include <torch/torch.h>

#include "core/error.h"
#include "tasks/glue/glue.h"
#include "train/trainer.h"

namespace lth::tasks {

std::unique_ptr<Task> make_glue_task(const std::string& name, const TaskOptions& options,
                                     std::shared_ptr<const tokenize::Tokenizer> tokenizer);
std::unique_ptr<Task> make_mlm_task(const TaskOptions& options, std::shared_ptr<const tokenize::Tokenizer> tokenizer);
std::unique_ptr<Task> make_squad_task(const std::string& name, const TaskOptions& options,
                                      std::shared_ptr<const tokenize::Tokenizer> tokenizer);
std::unique_ptr<Task> make_ner_task(const TaskOptions& options, std::shared_ptr<const tokenize::Tokenizer> tokenizer);

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

void predict(model::Bert& model, const std::vector<train::Feature>& features, train::LabelKind kind, int64_t pad_id,
             int64_t batch_size, const std::string& precision, const std::string& device,
             const std::function<void(const train::Batch&, const model::BertOutputs&)>& consume) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const torch::Device dev(device);
  for (const auto& indices : train::eval_batches(features, batch_size, true)) {
    auto batch = train::collate(features, indices, kind, pad_id);
    train::with_precision(precision, [&] {
      auto out = model->forward(batch.input_ids.to(dev), batch.attention_mask.to(dev), batch.token_type_ids.to(dev));
      consume(batch, out);
    });
  }
  if (was_training) model->train();
}

}  // namespace lth::tasks
