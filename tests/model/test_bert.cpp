// Parity with Hugging Face transformers v4.31 on ../shared/fixtures/hf-bert (the definition of a
// correct BERT): every forward output of the four head classes from both file formats, the losses,
// and one AdamW training step (loss, every gradient, the moments, the parameters after the step).
#include <doctest/doctest.h>

#include <filesystem>

#include <torch/torch.h>

#include "io/safetensors.h"
#include "model/load.h"
#include "tests/model/adamw_step_check.h"
#include "tests/tensor_testing.h"
#include "tests/testing.h"

namespace fs = std::filesystem;
using lth::testing::compare_close;

using lth::testing::hf_fixture;

namespace {

// A copy of a fixture checkpoint folder holding only one weight format.
std::string single_format_copy(const lth::testing::TempDir& tmp, const std::string& head, const std::string& format) {
  const std::string dst = tmp.file(head + "-" + format);
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(hf_fixture(head))) {
    const std::string name = e.path().filename().string();
    if ((name == "model.safetensors" || name == "pytorch_model.bin") && name != format) continue;
    fs::copy_file(e.path(), dst + "/" + name);
  }
  return dst;
}

struct Reference {
  lth::io::SafetensorsFile file{hf_fixture("reference.safetensors")};
  at::Tensor get(const std::string& name) const { return file.load(name); }
};

}  // namespace

TEST_SUITE("model") {
  TEST_CASE("forward parity with transformers for every head and both formats") {
    Reference ref;
    const auto ids = ref.get("input.input_ids"), mask = ref.get("input.attention_mask"),
               types = ref.get("input.token_type_ids");
    lth::testing::TempDir tmp("parity");
    torch::NoGradGuard no_grad;
    for (const std::string format : {"model.safetensors", "pytorch_model.bin"}) {
      for (const std::string head : {"model", "model-qa", "model-token", "model-mlm"}) {
        CAPTURE(format);
        CAPTURE(head);
        auto bert = lth::model::load_pretrained(single_format_copy(tmp, head, format));
        bert->eval();
        lth::model::ForwardOptions opts;
        opts.hidden_states = true;
        opts.attentions = true;
        auto out = bert->forward(ids, mask, types, opts);
        // All four share the encoder: hidden states and attentions equal base.* for every head.
        REQUIRE(out.hidden_states.size() == 3);
        for (size_t k = 0; k < out.hidden_states.size(); ++k) {
          EXPECT_CLOSE(out.hidden_states[k], ref.get("base.hidden_states." + std::to_string(k)), 1e-5, 1e-4,
                       "hidden_states." + std::to_string(k));
        }
        for (size_t k = 0; k < out.attentions.size(); ++k) {
          EXPECT_CLOSE(out.attentions[k], ref.get("base.attentions." + std::to_string(k)), 1e-5, 1e-4,
                       "attentions." + std::to_string(k));
        }
        EXPECT_CLOSE(out.last_hidden_state, ref.get("base.last_hidden_state"), 1e-5, 1e-4, "last_hidden_state");
        // Without attention weights LibTorch 2.x runs its fused attention kernel (1.13: the same eager
        // path again): every hidden state within the same tolerances.
        lth::model::ForwardOptions fused_opts;
        fused_opts.hidden_states = true;
        const auto fused = bert->forward(ids, mask, types, fused_opts);
        REQUIRE(fused.hidden_states.size() == 3);
        for (size_t k = 0; k < fused.hidden_states.size(); ++k) {
          EXPECT_CLOSE(fused.hidden_states[k], ref.get("base.hidden_states." + std::to_string(k)), 1e-5, 1e-4,
                       "hidden_states (no attention weights)." + std::to_string(k));
        }
        if (head == "model") {
          EXPECT_CLOSE(out.pooler_output, ref.get("base.pooler_output"), 1e-5, 1e-4, "pooler_output");
          EXPECT_CLOSE(out.logits, ref.get("seqcls.logits"), 1e-5, 1e-4, "seqcls.logits");
          auto loss = lth::model::head_loss(bert->config(), out, ref.get("labels.seqcls"));
          EXPECT_CLOSE(loss, ref.get("seqcls.loss"), 1e-6, 1e-5, "seqcls.loss");
        } else if (head == "model-qa") {
          CHECK_FALSE(out.pooler_output.defined());
          EXPECT_CLOSE(out.start_logits, ref.get("qa.start_logits"), 1e-5, 1e-4, "qa.start_logits");
          EXPECT_CLOSE(out.end_logits, ref.get("qa.end_logits"), 1e-5, 1e-4, "qa.end_logits");
          auto loss = lth::model::head_loss(bert->config(), out, ref.get("labels.qa_start_positions"),
                                            ref.get("labels.qa_end_positions"));
          EXPECT_CLOSE(loss, ref.get("qa.loss"), 1e-6, 1e-5, "qa.loss");
        } else if (head == "model-token") {
          EXPECT_CLOSE(out.logits, ref.get("token.logits"), 1e-5, 1e-4, "token.logits");
          auto loss = lth::model::head_loss(bert->config(), out, ref.get("labels.token"));
          EXPECT_CLOSE(loss, ref.get("token.loss"), 1e-6, 1e-5, "token.loss");
        } else {
          EXPECT_CLOSE(out.logits, ref.get("mlm.logits"), 1e-5, 1e-4, "mlm.logits");
          auto loss = lth::model::head_loss(bert->config(), out, ref.get("labels.mlm"));
          EXPECT_CLOSE(loss, ref.get("mlm.loss"), 1e-6, 1e-5, "mlm.loss");
        }
      }
    }
  }

  TEST_CASE("one AdamW training step matches transformers + torch.optim.AdamW") {
    lth::testing::check_adamw_step(hf_fixture("model"), hf_fixture("train_step.safetensors"));
  }
}
