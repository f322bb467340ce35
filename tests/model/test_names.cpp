// The BERT name table (model/names.h): checkpoint keys to lth's names, which module a name belongs
// to, the six prunable matrices of a layer, and the no-weight-decay rule.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "model/config.h"
#include "model/load.h"
#include "model/names.h"

namespace names = lth::model::names;

TEST_SUITE("model") {
  TEST_CASE("names::canonical: old LayerNorm names and keys without the bert. root") {
    CHECK(names::canonical("embeddings.LayerNorm.gamma") == "bert.embeddings.LayerNorm.weight");
    CHECK(names::canonical("bert.encoder.layer.0.output.LayerNorm.beta") == "bert.encoder.layer.0.output.LayerNorm.bias");
    CHECK(names::canonical("encoder.layer.1.attention.self.query.weight") ==
          "bert.encoder.layer.1.attention.self.query.weight");
    CHECK(names::canonical("pooler.dense.bias") == "bert.pooler.dense.bias");
    CHECK(names::canonical("classifier.weight") == "classifier.weight");
    CHECK(names::canonical("cls.predictions.transform.LayerNorm.gamma") == "cls.predictions.transform.LayerNorm.weight");
    CHECK(names::canonical("gamma") == "gamma");  // only a LayerNorm's
    CHECK(names::with_root("embeddings.word_embeddings.weight") == "bert.embeddings.word_embeddings.weight");
    CHECK(names::without_root("bert.pooler.dense.weight") == "pooler.dense.weight");
    CHECK(names::without_root("classifier.bias") == "classifier.bias");
  }

  TEST_CASE("names: the module a name belongs to") {
    CHECK(names::is_head("classifier.weight"));
    CHECK(names::is_head("bert.pooler.dense.weight"));
    CHECK_FALSE(names::is_head("bert.encoder.layer.0.output.dense.bias"));
    CHECK(names::is_other_head_tensor("bert.embeddings.position_ids"));
    CHECK(names::is_other_head_tensor("qa_outputs.weight"));
    CHECK_FALSE(names::is_other_head_tensor("bert.embeddings.word_embeddings.weight"));
    CHECK(names::is_tied_decoder("cls.predictions.decoder.weight"));
    CHECK_FALSE(names::is_tied_decoder("cls.predictions.bias"));
    CHECK(names::group("bert.encoder.layer.11.intermediate.dense.weight") == "encoder.layer.11");
    CHECK(names::group("bert.embeddings.LayerNorm.bias") == "embeddings");
    CHECK(names::group("bert.pooler.dense.weight") == "pooler");
    CHECK(names::group("cls.predictions.bias") == "head");
    CHECK(names::layer_index("bert.encoder.layer.12.output.dense.weight") == 12);
    CHECK(names::layer_index("bert.encoder.layer.x.output.dense.weight") == -1);
    CHECK(names::layer_index("bert.encoder.layer.3") == -1);
    CHECK(names::layer_index("bert.encoder.layer.99999999999999999.output.dense.weight") == -1);
    CHECK(names::layer_index("encoder.layer.3.output.dense.weight") == -1);  // canonical names only
  }

  TEST_CASE("names: the six prunable matrices of a layer and the default prunable set") {
    const std::vector<std::string> want = {
        "bert.encoder.layer.2.attention.self.query.weight", "bert.encoder.layer.2.attention.self.key.weight",
        "bert.encoder.layer.2.attention.self.value.weight", "bert.encoder.layer.2.attention.output.dense.weight",
        "bert.encoder.layer.2.intermediate.dense.weight",   "bert.encoder.layer.2.output.dense.weight"};
    for (int i = 0; i < names::kMatrixCount; ++i) {
      const auto m = static_cast<names::Matrix>(i);
      CAPTURE(i);
      CHECK(names::info(m).kind == m);
      CHECK(names::matrix_weight(2, m) == want[static_cast<size_t>(i)]);
      const auto ref = names::matrix_of(want[static_cast<size_t>(i)]);
      REQUIRE(ref);
      CHECK(ref->layer == 2);
      CHECK(ref->kind == m);
      CHECK(names::is_default_prunable(want[static_cast<size_t>(i)]));
    }
    CHECK(std::string(names::info(names::Matrix::kAO).label) == "AO");
    CHECK(names::is_default_prunable("bert.pooler.dense.weight"));
    CHECK_FALSE(names::matrix_of("bert.pooler.dense.weight"));
    for (const char* n : {"bert.encoder.layer.2.attention.self.query.bias", "bert.encoder.layer.2.output.LayerNorm.weight",
                          "bert.embeddings.word_embeddings.weight", "classifier.weight", "cls.predictions.transform.dense.weight",
                          "bert.pooler.dense.bias", "encoder.layer.2.output.dense.weight"}) {
      CAPTURE(n);
      CHECK_FALSE(names::is_default_prunable(n));
    }
  }

  TEST_CASE("names::decays_by_default: no weight decay on biases, LayerNorm and the MLM output bias") {
    CHECK(names::decays_by_default("bert.encoder.layer.0.attention.self.query.weight"));
    CHECK(names::decays_by_default("classifier.weight"));
    CHECK_FALSE(names::decays_by_default("bert.encoder.layer.0.attention.self.query.bias"));
    CHECK_FALSE(names::decays_by_default("bert.embeddings.LayerNorm.weight"));
    CHECK_FALSE(names::decays_by_default("cls.predictions.transform.LayerNorm.weight"));
    CHECK_FALSE(names::decays_by_default("cls.predictions.bias"));
  }

  TEST_CASE("encoder_shapes lists a layer's tensors in Hugging Face's order") {
    lth::model::BertConfig c;
    c.num_hidden_layers = 1;
    c.hidden_size = 8;
    c.intermediate_size = 16;
    std::vector<std::string> got;
    for (const auto& [name, shape] : lth::model::encoder_shapes(c)) got.push_back(name);
    const std::string p = "bert.encoder.layer.0.";
    const std::vector<std::string> layer = {
        "attention.self.query.weight", "attention.self.query.bias", "attention.self.key.weight", "attention.self.key.bias",
        "attention.self.value.weight", "attention.self.value.bias", "attention.output.dense.weight",
        "attention.output.dense.bias", "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
        "intermediate.dense.weight", "intermediate.dense.bias", "output.dense.weight", "output.dense.bias",
        "output.LayerNorm.weight", "output.LayerNorm.bias"};
    REQUIRE(got.size() == 5 + layer.size());
    for (size_t i = 0; i < layer.size(); ++i) CHECK(got[5 + i] == p + layer[i]);
    const auto shapes = lth::model::encoder_shapes(c);
    CHECK(shapes[5 + 10].second == std::vector<int64_t>{16, 8});  // intermediate.dense.weight
    CHECK(shapes[5 + 11].second == std::vector<int64_t>{16});
    CHECK(shapes[5 + 12].second == std::vector<int64_t>{8, 16});  // output.dense.weight
    CHECK(shapes[5 + 13].second == std::vector<int64_t>{8});
  }
}
