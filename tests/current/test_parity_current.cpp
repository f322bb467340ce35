// Parity with TODAY's transformers + torch (scripts/gen-fixtures; the 4.31 fixture in ../shared is
// checked by tests/model/test_bert.cpp): every forward output of the shared tiny checkpoints, one
// AdamW step, and every hidden state of the real all-MiniLM-L6-v2 checkpoint on real SST-2 and
// SQuAD inputs, also through `lth forward` and `lth inspect`.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "io/safetensors.h"
#include "model/load.h"
#include "tests/current/current_testing.h"
#include "tests/model/adamw_step_check.h"
#include "tests/tensor_testing.h"

namespace {

std::string shared_checkpoint(const std::string& head) {
  return lth::testing::shared_dir() + "/fixtures/hf-bert/" + head;
}

std::vector<std::vector<std::int64_t>> rows(const at::Tensor& t) {
  std::vector<std::vector<std::int64_t>> out;
  const auto c = t.to(torch::kInt64).contiguous();
  for (int64_t i = 0; i < c.size(0); ++i) {
    const auto* p = c[i].data_ptr<std::int64_t>();
    out.emplace_back(p, p + c.size(1));
  }
  return out;
}

}  // namespace

TEST_SUITE("current") {
  TEST_CASE("forward parity with today's transformers for every head (tiny shared checkpoints)") {
    lth::io::SafetensorsFile ref(lth::testing::current_fixture("reference.safetensors"));
    const auto ids = ref.load("input.input_ids"), mask = ref.load("input.attention_mask"),
               types = ref.load("input.token_type_ids");
    torch::NoGradGuard no_grad;
    for (const std::string head : {"model", "model-qa", "model-token", "model-mlm"}) {
      CAPTURE(head);
      auto bert = lth::model::load_pretrained(shared_checkpoint(head));
      bert->eval();
      lth::model::ForwardOptions opts;
      opts.hidden_states = true;
      opts.attentions = true;
      auto out = bert->forward(ids, mask, types, opts);
      REQUIRE(out.hidden_states.size() == 3);
      for (size_t k = 0; k < out.hidden_states.size(); ++k) {
        EXPECT_CLOSE(out.hidden_states[k], ref.load("base.hidden_states." + std::to_string(k)), 1e-5, 1e-4,
                     "hidden_states." + std::to_string(k));
      }
      REQUIRE(out.attentions.size() == 2);
      for (size_t k = 0; k < out.attentions.size(); ++k) {
        EXPECT_CLOSE(out.attentions[k], ref.load("base.attentions." + std::to_string(k)), 1e-5, 1e-4,
                     "attentions." + std::to_string(k));
      }
      if (head == "model") {
        EXPECT_CLOSE(out.pooler_output, ref.load("base.pooler_output"), 1e-5, 1e-4, "pooler_output");
        EXPECT_CLOSE(out.logits, ref.load("seqcls.logits"), 1e-5, 1e-4, "seqcls.logits");
        EXPECT_CLOSE(lth::model::head_loss(bert->config(), out, ref.load("labels.seqcls")), ref.load("seqcls.loss"),
                     1e-6, 1e-5, "seqcls.loss");
      } else if (head == "model-qa") {
        EXPECT_CLOSE(out.start_logits, ref.load("qa.start_logits"), 1e-5, 1e-4, "qa.start_logits");
        EXPECT_CLOSE(out.end_logits, ref.load("qa.end_logits"), 1e-5, 1e-4, "qa.end_logits");
        EXPECT_CLOSE(lth::model::head_loss(bert->config(), out, ref.load("labels.qa_start_positions"),
                                           ref.load("labels.qa_end_positions")),
                     ref.load("qa.loss"), 1e-6, 1e-5, "qa.loss");
      } else if (head == "model-token") {
        EXPECT_CLOSE(out.logits, ref.load("token.logits"), 1e-5, 1e-4, "token.logits");
        EXPECT_CLOSE(lth::model::head_loss(bert->config(), out, ref.load("labels.token")), ref.load("token.loss"), 1e-6,
                     1e-5, "token.loss");
      } else {
        EXPECT_CLOSE(out.logits, ref.load("mlm.logits"), 1e-5, 1e-4, "mlm.logits");
        EXPECT_CLOSE(lth::model::head_loss(bert->config(), out, ref.load("labels.mlm")), ref.load("mlm.loss"), 1e-6,
                     1e-5, "mlm.loss");
      }
    }
  }

  TEST_CASE("one AdamW step matches today's transformers + torch.optim.AdamW") {
    lth::testing::check_adamw_step(shared_checkpoint("model"), lth::testing::current_fixture("train_step.safetensors"));
  }

  TEST_CASE("all-MiniLM-L6-v2: every hidden state within 1e-5 of today's transformers on SST-2 and SQuAD") {
    const std::string dir = lth::testing::real_model_with_oracle("hidden_states.safetensors");
    if (dir.empty()) return;
    const std::string oracle = lth::testing::real_oracle("hidden_states.safetensors");
    lth::io::SafetensorsFile ref(oracle);
    lth::model::LoadReport report;
    auto bert = lth::model::load_pretrained(dir, {}, &report);
    CHECK(report.format == "safetensors");
    CHECK(report.new_parameters.empty());  // the checkpoint has its pooler: nothing is drawn at random
    const auto& config = bert->config();
    CHECK(config.num_hidden_layers == 6);
    CHECK(config.hidden_size == 384);
    CHECK(config.num_attention_heads == 12);
    CHECK(config.vocab_size == 30522);
    bert->eval();
    torch::NoGradGuard no_grad;
    std::vector<double> worst(config.num_hidden_layers + 1, 0.0);
    double worst_pooler = 0.0, worst_pad = 0.0;
    int64_t sequences = 0, tokens = 0;
    for (const std::string batch : {"sst2", "squad"}) {
      CAPTURE(batch);
      const auto ids = ref.load(batch + ".input_ids"), mask = ref.load(batch + ".attention_mask");
      lth::model::ForwardOptions opts;
      opts.hidden_states = true;
      auto out = bert->forward(ids, mask, ref.load(batch + ".token_type_ids"), opts);
      REQUIRE(out.hidden_states.size() == worst.size());
      // The sentences' tokens. Padded query rows are computed in both but carry no sentence: their
      // values amplify rounding (up to ~2e-4 here, docs/ARCHITECTURE.md), so they are reported only.
      const auto real = mask.to(torch::kBool).unsqueeze(-1).expand_as(out.hidden_states[0]);
      for (size_t k = 0; k < worst.size(); ++k) {
        const std::string what = batch + ".hidden_states." + std::to_string(k);
        const auto want = ref.load(what);
        auto r = lth::testing::compare_close(out.hidden_states[k].masked_select(real), want.masked_select(real), 1e-5,
                                             0.0, what + " (real tokens)");
        INFO(r.message);
        CHECK(r.ok);
        worst[k] = std::max(worst[k], r.max_abs);
        if (real.logical_not().any().item<bool>()) {
          const auto pad = (out.hidden_states[k] - want).abs().masked_select(real.logical_not()).max().item<double>();
          worst_pad = std::max(worst_pad, pad);
        }
      }
      auto r = lth::testing::compare_close(out.pooler_output, ref.load(batch + ".pooler_output"), 1e-5, 0.0,
                                           batch + ".pooler_output");
      INFO(r.message);
      CHECK(r.ok);
      worst_pooler = std::max(worst_pooler, r.max_abs);
      sequences += ids.size(0);
      tokens += mask.sum().item<int64_t>();
    }
    std::string line;
    for (size_t k = 0; k < worst.size(); ++k) line += fmt::format(" h{}={:.2e}", k, worst[k]);
    MESSAGE(fmt::format("all-MiniLM-L6-v2 vs transformers: {} sequences, {} real tokens; max |diff| at real tokens:{} "
                        "pooler={:.2e}; at padded positions (not asserted) {:.2e}",
                        sequences, tokens, line, worst_pooler, worst_pad));
  }

  TEST_CASE("all-MiniLM-L6-v2 through lth inspect and lth forward, as fetched") {
    const std::string dir = lth::testing::real_model_with_oracle("hidden_states.safetensors");
    if (dir.empty()) return;
    const std::string oracle = lth::testing::real_oracle("hidden_states.safetensors");
    using lth::testing::quote;
    auto inspect = lth::testing::run_lth("inspect --json " + quote(dir));
    REQUIRE_MESSAGE(inspect.exit_code == 0, inspect.err);
    const auto info = nlohmann::json::parse(inspect.out);
    CHECK(info.dump().find("384") != std::string::npos);

    lth::io::SafetensorsFile ref(oracle);
    lth::testing::TempDir tmp("real-forward");
    const auto n = 8;  // the first rows of the SQuAD pair batch (token types 0 and 1, padding)
    nlohmann::json in;
    in["input_ids"] = rows(ref.load("squad.input_ids").narrow(0, 0, n));
    in["attention_mask"] = rows(ref.load("squad.attention_mask").narrow(0, 0, n));
    in["token_type_ids"] = rows(ref.load("squad.token_type_ids").narrow(0, 0, n));
    std::ofstream(tmp.file("in.json")) << in.dump();
    auto fwd = lth::testing::run_lth("forward --model " + quote(dir) + " --inputs " +
                                     quote(tmp.file("in.json")) + " --out " + quote(tmp.file("out.safetensors")));
    REQUIRE_MESSAGE(fwd.exit_code == 0, fwd.err);
    lth::io::SafetensorsFile got(tmp.file("out.safetensors"));
    const auto real = ref.load("squad.attention_mask").narrow(0, 0, n).to(torch::kBool).unsqueeze(-1)
                          .expand_as(got.load("hidden_states.0"));
    for (int k = 0; k <= 6; ++k) {
      const std::string name = "hidden_states." + std::to_string(k);
      EXPECT_CLOSE(got.load(name).masked_select(real), ref.load("squad." + name).narrow(0, 0, n).masked_select(real),
                   1e-5, 0.0, name);
    }
    EXPECT_CLOSE(got.load("pooler_output"), ref.load("squad.pooler_output").narrow(0, 0, n), 1e-5, 0.0, "pooler");
  }
}
