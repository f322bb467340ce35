// What the in-process training tests share: the fixture BERT with a classification head, random
// classification features over its vocabulary, and a loop configuration that writes no models.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "model/load.h"
#include "tests/testing.h"
#include "train/trainer.h"

namespace lth::testing {

// The shared fixture BERT with a sequence-classification head; dropout off unless `dropout`.
inline model::Bert fixture_bert(bool dropout = false) {
  model::LoadOptions o;
  o.head = model::HeadKind::kSequenceClassification;
  if (!dropout) {
    o.hidden_dropout_prob = 0.0;
    o.attention_probs_dropout_prob = 0.0;
  }
  return model::load_pretrained(shared_dir() + "/fixtures/hf-bert/model", o);
}

// Random classification features over the fixture vocabulary (ids 5-199, 4-12 tokens between
// [CLS] and [SEP], labels 0-2); token type 0 everywhere.
inline std::vector<train::Feature> random_features(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> len(4, 12), id(5, 199), label(0, 2);
  std::vector<train::Feature> out;
  for (int i = 0; i < n; ++i) {
    train::Feature f;
    f.input_ids.push_back(2);
    for (int t = len(rng); t > 0; --t) f.input_ids.push_back(id(rng));
    f.input_ids.push_back(3);
    f.token_type_ids.assign(f.input_ids.size(), 0);
    f.labels = {label(rng)};
    out.push_back(std::move(f));
  }
  return out;
}

// Batches of 4, no models saved, no progress bar, no resume checkpoints.
inline train::TrainConfig quick_config() {
  train::TrainConfig c;
  c.batch_size = 4;
  c.save_models = false;
  c.progress = false;
  c.save_every = "0it";
  return c;
}

}  // namespace lth::testing
