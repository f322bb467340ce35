#include "train/trainee.h"

#include <torch/torch.h>

#include "model/load.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

namespace lth::train {

torch::nn::Module& BertTrainee::module() { return *model_; }

NamedTensorList BertTrainee::parameters() { return named_parameters(model_); }

bool BertTrainee::decays(const std::string& name) const { return decays_by_default(name); }

at::Tensor BertTrainee::loss(Batch& batch) {
  model::ForwardOptions fwd;
  at::Tensor labels = batch.labels;
  if (model_->config().head == model::HeadKind::kMaskedLM) {
    fwd.mlm_positions = labels.ne(-100);
    labels = labels.masked_select(fwd.mlm_positions);
  }
  auto out = model_->forward(batch.input_ids, batch.attention_mask, batch.token_type_ids, fwd);
  return model::head_loss(model_->config(), out, labels, batch.end_labels);
}

at::Tensor BertTrainee::sparse_row_gradients(bool on) {
  auto& embedding = model_->bert->embeddings->word_embeddings;
  on = on && model_->config().head != model::HeadKind::kMaskedLM;  // the MLM decoder is tied to it
  embedding->options.sparse(on);
  return on ? embedding->weight : at::Tensor();
}

void BertTrainee::save_model(const std::string& dir, const std::string& tokenizer_dir) {
  model::save_pretrained(model_, dir, tokenizer_dir);
}

}  // namespace lth::train
