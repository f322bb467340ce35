// What the training loop (train::train) trains: a model and its loss behind one small interface, so
// that one loop (accumulation, schedule, masks, evaluation, checkpoints and exact resume, signals,
// data parallelism, --profile) serves the plain BERT and lth mux's multiplexed one alike.
// `BertTrainee` is the plain BERT with its task head; lib/mux adapts a MuxBert (mux/mux_train.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include "model/bert.h"
#include "train/data.h"

namespace lth::train {

using NamedTensorList = std::vector<std::pair<std::string, at::Tensor>>;

class Trainee {
 public:
  virtual ~Trainee() = default;

  // The module moved to the training device and switched between train and eval mode.
  virtual torch::nn::Module& module() = 0;
  // The BERT whose parameters masks name (HF names); the loop's hooks receive it.
  virtual model::Bert& bert() = 0;
  // The trained parameters under the optimizer's names, in the order gradients are clipped and
  // averaged over ranks.
  virtual NamedTensorList parameters() = 0;
  // Whether the parameter `name` gets AdamW's weight decay.
  virtual bool decays(const std::string& name) const = 0;
  // The tensors of the resume checkpoint, which data parallelism also sends from rank 0 to every
  // rank at the start: the parameters, and any buffer the run must keep.
  virtual NamedTensorList state() { return parameters(); }

  // The forward pass and loss of one micro-batch whose tensors are on the training device (the loop
  // runs it under the run's precision, then scales the loss and runs backward).
  virtual at::Tensor loss(Batch& batch) = 0;
  // Turns sparse row gradients on or off for the parameter that the forward reads only at the rows
  // batch.input_ids names (the word embeddings), so that AdamW can update it lazily (AdamW::
  // set_lazy_rows); returns that parameter when turned on, else an undefined tensor (also when the
  // trainee has none, e.g. when a tied MLM decoder reads every row).
  virtual at::Tensor sparse_row_gradients(bool on) {
    (void)on;
    return {};
  }
  // Adds the trainee's own fields to a metrics.jsonl train line (its means since the last line)
  // and starts its sums again.
  virtual void add_train_fields(nlohmann::json& line) { (void)line; }
  // Fields added to result.json.
  virtual nlohmann::json result_fields() const { return nlohmann::json::object(); }
  // The model in the folder `dir` (the run's model/ or best/), with the tokenizer of `tokenizer_dir`.
  virtual void save_model(const std::string& dir, const std::string& tokenizer_dir) = 0;
};

// The plain BERT: its head's loss (masked LM: the decoder only at labelled positions), HF's
// no-decay rule, save_pretrained.
class BertTrainee : public Trainee {
 public:
  explicit BertTrainee(model::Bert& model) : model_(model) {}

  torch::nn::Module& module() override;
  model::Bert& bert() override { return model_; }
  NamedTensorList parameters() override;
  bool decays(const std::string& name) const override;
  at::Tensor loss(Batch& batch) override;
  at::Tensor sparse_row_gradients(bool on) override;
  void save_model(const std::string& dir, const std::string& tokenizer_dir) override;

 private:
  model::Bert& model_;
};

}  // namespace lth::train
