// One AdamW training step of lth against a transformers + torch.optim.AdamW fixture
// (train_step.safetensors: the inputs, logits, loss, gradients, Adam moments and weights after the
// step; ../shared/fixtures/hf-bert/README.md). Shared by the 4.31 suite (tests/model) and today's
// (tests/current), which differ only in the fixture they read.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "io/safetensors.h"
#include "model/load.h"
#include "tests/tensor_testing.h"
#include "train/adamw.h"

namespace lth::testing {

// `model_dir`: the checkpoint the fixture was made from; lr 1e-3, weight decay 0.01 on every
// parameter (one group, as in the fixture), no dropout.
inline void check_adamw_step(const std::string& model_dir, const std::string& step_file) {
  io::SafetensorsFile step(step_file);
  model::LoadOptions options;
  options.hidden_dropout_prob = 0.0;
  options.attention_probs_dropout_prob = 0.0;
  auto bert = model::load_pretrained(model_dir, options);
  bert->train();
  auto out = bert->forward(step.load("input.input_ids"), step.load("input.attention_mask"),
                           step.load("input.token_type_ids"));
  EXPECT_CLOSE(out.logits, step.load("logits"), 1e-5, 1e-4, "logits");
  auto loss = model::head_loss(bert->config(), out, step.load("labels"));
  EXPECT_CLOSE(loss, step.load("loss"), 1e-6, 1e-5, "loss");
  loss.backward();
  std::vector<std::pair<std::string, at::Tensor>> params;
  for (auto& item : bert->named_parameters()) params.emplace_back(item.key(), item.value());
  REQUIRE(params.size() == 41);
  std::map<std::string, at::Tensor> before;
  for (auto& [name, p] : params) {
    EXPECT_CLOSE(p.grad(), step.load("grad." + name), 1e-6, 1e-4, "grad." + name);
    before[name] = p.detach().clone();
  }
  train::AdamWOptions adam;
  adam.lr = 1e-3;
  adam.weight_decay = 0.01;
  train::AdamW optimizer(params, adam);
  optimizer.step();
  for (auto& entry : params) {
    auto& name = entry.first;  // not a binding: CAPTURE/INFO capture it in a lambda (C++17)
    auto& p = entry.second;
    CAPTURE(name);
    EXPECT_CLOSE(optimizer.exp_avg(name), step.load("exp_avg." + name), 1e-7, 1e-4, "exp_avg." + name);
    EXPECT_CLOSE(optimizer.exp_avg_sq(name), step.load("exp_avg_sq." + name), 1e-10, 1e-3, "exp_avg_sq." + name);
    // The fixture README's split: well-conditioned steps tight, |g| ~ eps loose, g == 0 exact decay
    // only. Structural zeros (the [PAD] row, untouched rows and positions) are exactly zero in both
    // runs; the key bias has an analytically zero gradient that both get only up to rounding noise
    // (~1e-11, sometimes exactly 0 in one of them): the ill-conditioned |g| <= 1e-6 class.
    const auto want = step.load("param_after." + name), grad = step.load("grad." + name), got = p.detach();
    const auto big = grad.abs() > 1e-6, zero = (grad == 0).logical_and(p.grad() == 0),
               small = grad.abs().le(1e-6).logical_and(zero.logical_not());
    EXPECT_CLOSE(got.masked_select(big), want.masked_select(big), 1e-6, 0.0, "param_after (|g| > 1e-6)." + name);
    EXPECT_CLOSE(got.masked_select(small), want.masked_select(small), 2e-3, 0.0, "param_after (|g| <= 1e-6)." + name);
    const auto decayed = (before[name] * static_cast<float>(1.0 - 1e-3 * 0.01)).masked_select(zero);
    CHECK(torch::equal(got.masked_select(zero), decayed));
    CHECK(torch::equal(want.masked_select(zero), decayed));
  }
}

}  // namespace lth::testing
