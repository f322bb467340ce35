// lib/mux correctness against independent truth: the mixing and demixing formulas computed by hand
// from the modules' own tensors; the MuxBert pipeline recomputed step by step (row g·N+i is
// instance i of group g); a tiny random BERT that learns to retrieve each instance's own tokens far
// above chance and above what a demultiplexer that confuses the instances could score; a toy task
// whose label depends on each instance alone, predicted for the right row; and padding duplicates
// that never reach the retrieval counts, the predictions or the example counts.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/bert.h"
#include "mux/demultiplexer.h"
#include "mux/multiplexer.h"
#include "mux/mux_model.h"
#include "mux/mux_train.h"
#include "mux/retrieval.h"
#include "tests/tensor_testing.h"
#include "tests/testing.h"

using namespace lth;  // NOLINT: test file
using mux::DemuxKind;
using mux::MuxKind;

namespace {

// Ids below kFirstToken are special: 0 padding, 1 filler, 2.. index tokens.
constexpr int64_t kFirstToken = 8;

// A tiny randomly initialised BERT (2 layers, hidden 64, 4 heads), no dropout.
model::Bert tiny_bert(int64_t vocab, model::HeadKind head, int64_t labels, uint64_t seed) {
  model::BertConfig c;
  c.vocab_size = vocab;
  c.hidden_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 128;
  c.max_position_embeddings = 40;
  c.hidden_dropout_prob = 0.0;
  c.attention_probs_dropout_prob = 0.0;
  c.set_head(head, labels);
  torch::manual_seed(seed);
  return model::Bert(c);
}

// Filler 1, index tokens 2..N+1 (all below kFirstToken for N <= 5).
mux::MuxConfig tiny_mux(int64_t n, MuxKind m, DemuxKind d, uint64_t seed = 57) {
  mux::MuxConfig c;
  c.n = n;
  c.mux = m;
  c.demux = d;
  c.seed = seed;
  c.filler_id = 1;
  for (int64_t i = 0; i < n; ++i) c.index_ids.push_back(2 + i);
  return c;
}

// `count` sequences of `len` tokens drawn uniformly from [kFirstToken, vocab). Label (when
// `labelled`): 1 when the first token is in the upper half of the token range, a property of the
// instance alone that the sequence head (reading each instance's first position) can see.
// Uniform random token sequences; labelled ones get label 1 when their first token is in the upper
// half of the range, or (`majority`) when most of their tokens are.
std::vector<train::Feature> random_sequences(int64_t count, int64_t len, int64_t vocab, uint64_t seed, bool labelled,
                                             bool majority = false) {
  std::mt19937_64 rng(seed);
  const uint64_t range = static_cast<uint64_t>(vocab - kFirstToken);
  std::vector<train::Feature> out;
  for (int64_t k = 0; k < count; ++k) {
    train::Feature f;
    for (int64_t t = 0; t < len; ++t) {
      f.input_ids.push_back(static_cast<int32_t>(kFirstToken + static_cast<int64_t>(rng() % range)));
    }
    f.token_type_ids.assign(f.input_ids.size(), 0);
    const auto upper = [&](int32_t id) { return id >= kFirstToken + static_cast<int64_t>(range / 2); };
    const auto uppers = std::count_if(f.input_ids.begin(), f.input_ids.end(), upper);
    if (labelled) f.labels = {(majority ? 2 * uppers > len : upper(f.input_ids[0])) ? 1 : 0};
    out.push_back(std::move(f));
  }
  return out;
}

// The features as one [count, len] batch (equal lengths: no padding).
at::Tensor ids_of(const std::vector<train::Feature>& features) {
  std::vector<int64_t> idx(features.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  return train::collate(features, idx, train::LabelKind::kNone, 0).input_ids;
}

// Settings of a short in-process mux run on one thread.
mux::MuxTrainConfig short_run(int64_t warmup_steps, int64_t task_steps, int64_t batch_size) {
  mux::MuxTrainConfig cfg;
  cfg.train.length = fmt::format("{}it", task_steps);
  cfg.train.batch_size = batch_size;
  cfg.train.lr = 2e-3;
  cfg.train.warmup = fmt::format("{}it", task_steps / 10);
  cfg.train.eval_every = "0it";
  cfg.train.save_every = "100000it";
  cfg.train.progress = false;
  cfg.train.save_models = false;
  cfg.train.seed = 5;
  cfg.warmup_steps = warmup_steps;
  cfg.warmup_lr = 2e-3;
  return cfg;
}

// Retrieval on held-out sequences, scored against the data itself.
struct RetrievalScore {
  double accuracy = 0.0;  // prediction == the chosen instance's token
  // A demultiplexer that cannot tell the instances apart, answering with a uniformly random
  // instance's token at that position: mean over scored positions of #{j : token_j == target} / N.
  double confused_baseline = 0.0;
  // Prediction == the token of an instance other than the chosen one (and != the target).
  double wrong_instance = 0.0;
  double chance = 0.0;  // 1 / number of token ids drawn
  int64_t counted = 0;
};

RetrievalScore score_retrieval(mux::MuxBert& model, const at::Tensor& ids, int64_t vocab) {
  torch::NoGradGuard no_grad;
  model->eval();
  const int64_t n = model->n(), rows = ids.size(0), len = ids.size(1), groups = rows / n;
  mux::MuxForwardOptions fo;
  fo.retrieval = true;
  fo.generator = at::make_generator<at::CPUGeneratorImpl>(99);
  auto out = model->forward(ids, torch::ones_like(ids), torch::zeros_like(ids), fo);
  const auto pred = out.retrieval_logits.argmax(-1);                                     // [K]
  const auto targets = out.retrieval_targets;                                            // [K]
  const auto column = ids.view({groups, n, len}).permute({0, 2, 1}).reshape({groups * len, n});  // [G·L, N]
  const auto group_tokens = column.index_select(0, out.retrieval_positions);             // [K, N]
  RetrievalScore s;
  s.counted = targets.size(0);
  s.accuracy = pred.eq(targets).to(torch::kFloat64).mean().item<double>();
  s.confused_baseline = group_tokens.eq(targets.unsqueeze(1)).to(torch::kFloat64).sum(1).div(n).mean().item<double>();
  s.wrong_instance = group_tokens.eq(pred.unsqueeze(1)).any(1).logical_and(pred.ne(targets)).to(torch::kFloat64).mean().item<double>();
  s.chance = 1.0 / static_cast<double>(vocab - kFirstToken);
  return s;
}

}  // namespace

TEST_SUITE("mux") {
  TEST_CASE("mixing formulas by hand: Hadamard mean of h_i ⊙ v_i, orthogonal sum of h_i W_i / √N, binary sum of h_i ⊙ m_i") {
    const int64_t n = 3, h = 12, g = 2, l = 4;
    torch::manual_seed(4);
    const auto x = torch::randn({g, n, l, h});
    {
      mux::Multiplexer m(mux::MultiplexerOptions(n, h).kind(MuxKind::kHadamard).seed(8));
      const auto v = m->weights();
      REQUIRE(v.sizes() == at::IntArrayRef({n, h}));
      // v_i: unit-scale entries, L2 norm √H by default.
      EXPECT_CLOSE(v.norm(2, {1}), torch::full({n}, std::sqrt(static_cast<double>(h))), 1e-5, 0, "‖v_i‖ = √H");
      auto expected = torch::zeros({g, l, h}, torch::kFloat64);
      for (int64_t i = 0; i < n; ++i) expected += x.select(1, i).to(torch::kFloat64) * v[i].to(torch::kFloat64);
      expected /= static_cast<double>(n);
      EXPECT_CLOSE(m(x).to(torch::kFloat64), expected, 1e-6, 0, "hadamard");
      mux::Multiplexer scaled(mux::MultiplexerOptions(n, h).kind(MuxKind::kHadamard).norm(2.5).seed(8));
      EXPECT_CLOSE(scaled->weights(), v / std::sqrt(static_cast<double>(h)) * 2.5, 1e-6, 0, "norm option rescales v_i");
    }
    {
      mux::Multiplexer m(mux::MultiplexerOptions(n, h).kind(MuxKind::kOrthogonal).seed(8));
      const auto w = m->weights();
      REQUIRE(w.sizes() == at::IntArrayRef({n, h, h}));
      auto expected = torch::zeros({g, l, h}, torch::kFloat64);
      for (int64_t a = 0; a < g; ++a)
        for (int64_t t = 0; t < l; ++t)
          for (int64_t i = 0; i < n; ++i)
            for (int64_t c = 0; c < h; ++c) {
              double sum = 0.0;  // (h_i W_i)_c = Σ_r h_i[r] W_i[r, c]
              for (int64_t r = 0; r < h; ++r) sum += x[a][i][t][r].item<double>() * w[i][r][c].item<double>();
              expected[a][t][c] += sum / std::sqrt(static_cast<double>(n));
            }
      EXPECT_CLOSE(m(x).to(torch::kFloat64), expected, 1e-6, 0, "orthogonal");
    }
    {
      mux::Multiplexer m(mux::MultiplexerOptions(n, h).kind(MuxKind::kBinary));
      // m_i: the indicator of [i·H/N, (i+1)·H/N): 0..4, 4..8, 8..12.
      auto masks = torch::zeros({n, h});
      for (int64_t i = 0; i < n; ++i) masks[i].slice(0, i * 4, i * 4 + 4).fill_(1.0);
      CHECK(torch::equal(m->weights(), masks));
      auto expected = torch::zeros({g, l, h});
      for (int64_t i = 0; i < n; ++i) expected.slice(2, i * 4, i * 4 + 4).copy_(x.select(1, i).slice(2, i * 4, i * 4 + 4));
      EXPECT_CLOSE(m(x), expected, 1e-6, 0, "binary: instance i's chunk, summed");
    }
  }

  TEST_CASE("demultiplexing formulas by hand: LayerNorm(GELU(W_h h_t + b + W_k k_i)) or LayerNorm(GELU(W_i h_t + b_i))") {
    const int64_t n = 3, h = 8, g = 2, l = 4;
    torch::manual_seed(6);
    namespace F = torch::nn::functional;
    for (auto kind : {DemuxKind::kIndex, DemuxKind::kKeys, DemuxKind::kMlp}) {
      CAPTURE(mux::demux_kind_name(kind));
      mux::Demultiplexer d(mux::DemultiplexerOptions(n, h).kind(kind));
      {  // non-trivial LayerNorm affine parameters, so they are part of what is checked
        torch::NoGradGuard no_grad;
        d->layer_norm->weight.normal_(1.0, 0.3);
        d->layer_norm->bias.normal_(0.0, 0.3);
        if (kind != DemuxKind::kMlp) d->token_proj->bias.normal_(0.0, 0.3);
        else d->mlp_bias.normal_(0.0, 0.3);
      }
      const int64_t p = kind == DemuxKind::kIndex ? n : 0;
      const auto hidden = torch::randn({g, p + l, h});
      auto expected = torch::zeros({g, n, l, h});
      for (int64_t a = 0; a < g; ++a)
        for (int64_t i = 0; i < n; ++i)
          for (int64_t t = 0; t < l; ++t) {
            const auto ht = hidden[a][p + t];
            at::Tensor z;
            if (kind == DemuxKind::kMlp) {
              z = torch::mv(d->mlp_weight[i], ht) + d->mlp_bias[i];
            } else {
              const auto k = kind == DemuxKind::kIndex ? hidden[a][i] : d->keys[i];  // prefix position i / key i
              z = torch::mv(d->token_proj->weight, ht) + d->token_proj->bias + torch::mv(d->key_proj->weight, k);
            }
            auto gelu = 0.5 * z * (1.0 + torch::erf(z / std::sqrt(2.0)));
            auto mean = gelu.mean();
            auto var = (gelu - mean).pow(2).mean();
            expected[a][i][t] = (gelu - mean) / torch::sqrt(var + 1e-12) * d->layer_norm->weight + d->layer_norm->bias;
          }
      torch::NoGradGuard no_grad;
      EXPECT_CLOSE(d(hidden), expected, 1e-5, 0, "forward");
      EXPECT_CLOSE(d->first(hidden), expected.select(2, 0), 1e-5, 0, "first");
    }
  }

  TEST_CASE("MuxBert recomputed by hand: row g·N+i is embedded with prefix i, mixed with v_i and read with prefix position i") {
    const int64_t vocab = 40, n = 3, groups = 2, len = 5;
    auto bert = tiny_bert(vocab, model::HeadKind::kSequenceClassification, 2, 3);
    mux::MuxBert model(bert, tiny_mux(n, MuxKind::kHadamard, DemuxKind::kIndex));
    model->eval();
    torch::NoGradGuard no_grad;
    torch::manual_seed(8);
    const auto ids = torch::randint(kFirstToken, vocab, {groups * n, len}, torch::kLong);
    auto mask = torch::ones_like(ids);
    mask[1].slice(0, 3).zero_();  // padding in one instance only: still visible to the group
    for (int64_t r = 3; r < 6; ++r) mask[r].slice(0, 4).zero_();  // padding in every instance: masked
    const auto types = torch::zeros_like(ids);
    mux::MuxForwardOptions fo;
    fo.all_positions = true;
    const auto out = model->forward(ids, mask, types, fo);
    REQUIRE(out.demuxed.sizes() == at::IntArrayRef({groups * n, len, 64}));

    const auto v = model->mux->weights();
    auto& d = model->demux;
    for (int64_t g = 0; g < groups; ++g) {
      auto mixed = torch::zeros({1, n + len, 64});
      auto group_mask = torch::zeros({1, n + len}, torch::kLong);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t row = g * n + i;
        // prefix: filler everywhere but index token i at position i; then the instance's tokens
        auto full = torch::full({1, n + len}, 1, torch::kLong);
        full[0][i] = 2 + i;
        full[0].slice(0, n).copy_(ids[row]);
        mixed += model->bert->bert->embed(full, torch::zeros_like(full)) * v[i] / static_cast<double>(n);
        auto m = torch::ones({1, n + len}, torch::kLong);
        m[0].slice(0, n).copy_(mask[row]);
        group_mask = torch::maximum(group_mask, m);
      }
      const auto encoded = model->bert->bert->encode(mixed, group_mask).last_hidden_state[0];  // [P+L, H]
      for (int64_t i = 0; i < n; ++i) {
        CAPTURE(g);
        CAPTURE(i);
        const auto z = d->token_proj(encoded.slice(0, n)) + d->key_proj(encoded[i]).unsqueeze(0);
        const auto expected = d->layer_norm(torch::gelu(z));
        EXPECT_CLOSE(out.demuxed[g * n + i], expected, 1e-5, 1e-5, "demuxed row g·N+i");
      }
    }
    // The sequence head reads each row's mean over its own non-padding positions (pooling "mean",
    // the default; rows 1 and 3-5 have 3 and 4 of them) through the pooler and classifier ...
    REQUIRE(model->config().pooling == mux::PoolingKind::kMean);
    const auto seq = model->forward(ids, mask, types);
    const auto keep = mask.to(torch::kFloat32).unsqueeze(-1);
    const auto mean = (out.demuxed * keep).sum(1) / keep.sum(1);
    EXPECT_CLOSE(seq.demuxed.squeeze(1), mean, 1e-5, 1e-5, "mean over the row's own positions");
    const auto pooled = torch::tanh(model->bert->bert->pooler_dense(mean));
    EXPECT_CLOSE(seq.task.logits, model->bert->classifier(pooled), 1e-5, 1e-5, "logits of row g·N+i");
    // ... or, with pooling "first" (DataMUX's), its first position alone.
    auto first_config = model->config();
    first_config.pooling = mux::PoolingKind::kFirst;
    mux::MuxBert first(bert, first_config);
    auto from = model->mux_state();
    auto to = first->mux_state();
    REQUIRE(from.size() == to.size());
    for (size_t k = 0; k < from.size(); ++k) to[k].second.copy_(from[k].second);
    first->eval();
    const auto first_seq = first->forward(ids, mask, types);
    EXPECT_CLOSE(first_seq.demuxed.squeeze(1), out.demuxed.select(1, 0), 1e-5, 1e-5, "first position");
    const auto first_pooled = torch::tanh(model->bert->bert->pooler_dense(out.demuxed.select(1, 0)));
    EXPECT_CLOSE(first_seq.task.logits, model->bert->classifier(first_pooled), 1e-5, 1e-5, "logits, first position");
    CHECK_THROWS_AS(mux::pooling_kind_from_name("max"), ConfigError);
  }

  TEST_CASE("retrieval diagnostics by hand: any instance's token at the position, and the unigram baseline") {
    // Two groups of N=2, length 3. Group 0: instance 0 = 5 6 7, instance 1 = 8 6 9; group 1:
    // 1 2 3 and 4 5 6. Scored flat positions g·3 + l: 0, 1, 2, 3, 5.
    const auto ids = torch::tensor({5, 6, 7, 8, 6, 9, 1, 2, 3, 4, 5, 6}, torch::kLong).view({4, 3});
    const auto positions = torch::tensor({0, 1, 2, 3, 5}, torch::kLong);
    // Predicted tokens: 8 (instance 1's at g0 l0: a hit), 6 (both's), 3 (nobody's at g0 l2), 5 (g1's
    // token at l1, not at l0: a miss), 6 (instance 1's at g1 l2: a hit).
    const auto predicted = torch::tensor({8, 6, 3, 5, 6}, torch::kLong);
    CHECK(mux::retrieval_any_instance_hits(predicted, positions, ids, 2) == 3);
    CHECK(mux::retrieval_any_instance_hits(predicted.slice(0, 0, 0), positions.slice(0, 0, 0), ids, 2) == 0);
    CHECK_THROWS_AS(mux::retrieval_any_instance_hits(predicted, positions, ids, 3), ShapeError);

    mux::PredictStats stats;
    stats.retrieval_counted = 10;
    stats.retrieval_correct = 5;
    stats.retrieval_any_instance = 7;
    stats.retrieval_target_counts = {{3, 4}, {7, 6}};
    const auto j = stats.retrieval_json();
    CHECK(j.at("retrieval_accuracy").get<double>() == doctest::Approx(0.5));
    CHECK(j.at("retrieval_any_instance_accuracy").get<double>() == doctest::Approx(0.7));
    CHECK(j.at("retrieval_unigram_accuracy").get<double>() == doctest::Approx(0.6));
    CHECK(mux::PredictStats{}.retrieval_unigram_accuracy() == 0.0);
  }

  TEST_CASE("retrieval warm-up on a tiny random BERT: each instance's own tokens far above chance and above a confused demultiplexer") {
    at::set_num_threads(1);
    const int64_t vocab = 64, len = 12;
    const auto text = random_sequences(2000, len, vocab, 21, false);
    const auto held_out = ids_of(random_sequences(256, len, vocab, 22, false));
    testing::TempDir tmp("mux-retrieval");
    for (int64_t n : {2, 4}) {
      CAPTURE(n);
      mux::MuxBert model(tiny_bert(vocab, model::HeadKind::kNone, 0, 31), tiny_mux(n, MuxKind::kHadamard, DemuxKind::kIndex));
      const auto before = score_retrieval(model, held_out, vocab);
      auto cfg = short_run(300, 0, 32);
      const auto result = mux::train_mux(model, text, {}, {}, train::LabelKind::kNone, 0, cfg, {},
                                         tmp.file("n" + std::to_string(n)));
      const auto s = score_retrieval(model, held_out, vocab);
      MESSAGE("N=", n, " before ", before.accuracy, " after ", s.accuracy, " confused baseline ", s.confused_baseline,
              " wrong instance ", s.wrong_instance, " chance ", s.chance);
      // Measured (300 steps, these seeds): 1.0 at N=2 and N=4; confused baselines 0.51 and 0.26;
      // no prediction names another instance's token; 0.010-0.013 before training.
      CHECK(s.counted == held_out.size(0) / n * len);  // one chosen instance per group and position
      CHECK(before.accuracy < 3 * s.chance);
      CHECK(s.accuracy >= 0.9);
      CHECK(s.accuracy >= 20 * s.chance);
      CHECK(s.accuracy >= s.confused_baseline + 0.35);
      CHECK(s.wrong_instance <= 0.05);
      CHECK(result.warmup_metrics.at("examples") == 2000);
      CHECK(result.warmup_metrics.at("retrieval_accuracy").get<double>() >= 0.9);
    }
  }

  TEST_CASE("a toy task whose label is a property of each instance: row g·N+i predicts instance i's label, not its neighbours'") {
    at::set_num_threads(1);
    const int64_t vocab = 64, len = 8;
    const auto text = random_sequences(2000, len, vocab, 41, false);
    testing::TempDir tmp("mux-toy");
    // Pooling "first" (with DataMUX's index demux) reads position 0: the label is its token's;
    // pooling "mean" (with the default per-instance MLP demux) reads every position: the label is the
    // majority of the tokens.
    for (const std::string pooling : {"first", "mean"}) {
      const bool majority = pooling == "mean";
      const auto task = random_sequences(2000, len, vocab, 42, true, majority);
      const auto held = random_sequences(256, len, vocab, 43, true, majority);
      std::vector<int64_t> labels;
      for (const auto& f : held) labels.push_back(f.labels[0]);
      const auto y = torch::tensor(labels);
      const auto ids = ids_of(held);
      for (int64_t n : {2, 4}) {
        CAPTURE(pooling);
        CAPTURE(n);
        auto config = tiny_mux(n, MuxKind::kHadamard, majority ? DemuxKind::kMlp : DemuxKind::kIndex);
        config.pooling = mux::pooling_kind_from_name(pooling);
        mux::MuxBert model(tiny_bert(vocab, model::HeadKind::kSequenceClassification, 2, 51), config);
        auto cfg = short_run(150, majority ? 300 : 150, 32);
        mux::train_mux(model, text, {}, task, train::LabelKind::kClass, 0, cfg, {}, tmp.file(pooling + std::to_string(n)));
        torch::NoGradGuard no_grad;
        model->eval();
        const auto pred = model->forward(ids, torch::ones_like(ids), torch::zeros_like(ids)).task.logits.argmax(-1);
        const double own = pred.eq(y).to(torch::kFloat64).mean().item<double>();
        // Agreement with the label of instance (i + s) mod N of the same group, for every shift s.
        double best_other = 0.0;
        for (int64_t shift = 1; shift < n; ++shift) {
          const auto other = y.view({-1, n}).roll(-shift, 1).reshape({-1});
          best_other = std::max(best_other, pred.eq(other).to(torch::kFloat64).mean().item<double>());
        }
        const double base_rate = y.to(torch::kFloat64).mean().item<double>();
        MESSAGE("N=", n, " own ", own, " best other ", best_other, " base rate ", base_rate);
        // Measured (first: 150 + 150 steps, these seeds): own 1.0 at N=2, 0.996 at N=4; other
        // instances' labels 0.44 and 0.52, chance agreement for independent labels (base rate 0.51).
        // Mean (majority labels, base rate 0.39), 150 + 300 steps: own 1.0 at N=2 and N=4, others' 0.54 and 0.52.
        CHECK(own >= 0.9);
        CHECK(best_other <= 0.65);
        CHECK(own - best_other >= 0.3);
        // Through the inference path: predict_mux hands each prediction to its feature's index.
        std::vector<int64_t> by_index(held.size(), -1);
        mux::predict_mux(model, held, 0, 16, "fp32", "cpu", false,
                         [&](const std::vector<int64_t>& idx, const model::BertOutputs& out) {
                           const auto p = out.logits.argmax(-1);
                           for (size_t r = 0; r < idx.size(); ++r) by_index[static_cast<size_t>(idx[r])] = p[static_cast<int64_t>(r)].item<int64_t>();
                         });
        int64_t agree = 0;
        for (size_t i = 0; i < held.size(); ++i) agree += by_index[i] == labels[i] ? 1 : 0;
        CHECK(static_cast<double>(agree) / static_cast<double>(held.size()) >= 0.9);
      }
    }
  }

  TEST_CASE("padding duplicates never count: retrieval scores real rows only, whatever the padding holds; k examples give k predictions") {
    const int64_t vocab = 40, n = 3, len = 6;
    mux::MuxBert model(tiny_bert(vocab, model::HeadKind::kSequenceClassification, 2, 61),
                       tiny_mux(n, MuxKind::kHadamard, DemuxKind::kIndex));
    model->eval();
    torch::NoGradGuard no_grad;
    // 2 groups, rows 4 and 5 padding. Row r draws its tokens from [8 + 5r, 13 + 5r): a target names its row.
    torch::manual_seed(12);
    auto ids = torch::randint(0, 5, {2 * n, len}, torch::kLong) + kFirstToken + torch::arange(2 * n).mul(5).unsqueeze(1);
    const auto row_of = [](const at::Tensor& targets) { return (targets - kFirstToken).div(5, "floor"); };
    const auto mask = torch::ones_like(ids), types = torch::zeros_like(ids);
    const auto real = torch::arange(2 * n).lt(4);
    auto run = [&](const at::Tensor& i, const at::Tensor& m, bool with_real_rows) {
      mux::MuxForwardOptions fo;
      fo.retrieval = true;
      fo.generator = at::make_generator<at::CPUGeneratorImpl>(3);
      if (with_real_rows) fo.real_rows = real;
      return model->forward(i, m, types, fo);
    };
    const auto all = run(ids, mask, false);
    const auto kept = run(ids, mask, true);
    // The same draw: the scored positions are exactly those of all rows whose chosen instance is real.
    const auto keep = row_of(all.retrieval_targets).lt(4);
    REQUIRE(keep.logical_not().any().item<bool>());  // the draw did pick padding rows somewhere
    CHECK(torch::equal(kept.retrieval_positions, all.retrieval_positions.masked_select(keep)));
    CHECK(torch::equal(kept.retrieval_targets, all.retrieval_targets.masked_select(keep)));
    CHECK(row_of(kept.retrieval_targets).lt(4).all().item<bool>());
    CHECK(kept.retrieval_targets.size(0) == kept.retrieval_logits.size(0));
    // Other padding contents and masks: the same positions and targets are scored.
    auto other_ids = ids.clone(), other_mask = mask.clone();
    other_ids.slice(0, 4).copy_(torch::randint(kFirstToken, vocab, {2, len}, torch::kLong));
    other_mask[5].slice(0, 2).zero_();
    const auto other = run(other_ids, other_mask, true);
    CHECK(torch::equal(other.retrieval_positions, kept.retrieval_positions));
    CHECK(torch::equal(other.retrieval_targets, kept.retrieval_targets));

    // predict_mux: 5 features of lengths 10..6 at N=2 are padded with a copy of the shortest; the same
    // features with that copy as a 6th real example run the very same forward pass. Only the latter
    // may predict it or score its retrieval positions.
    std::vector<train::Feature> five;
    std::mt19937_64 rng(7);
    for (int64_t l = 10; l >= 6; --l) {
      train::Feature f;
      for (int64_t t = 0; t < l; ++t) f.input_ids.push_back(static_cast<int32_t>(kFirstToken + static_cast<int64_t>(rng() % 32)));
      f.token_type_ids.assign(f.input_ids.size(), 0);
      five.push_back(std::move(f));
    }
    auto six = five;
    six.push_back(five.back());
    mux::MuxBert pair(tiny_bert(vocab, model::HeadKind::kSequenceClassification, 2, 62),
                      tiny_mux(2, MuxKind::kHadamard, DemuxKind::kIndex));
    auto predict = [&](const std::vector<train::Feature>& features, std::map<int64_t, at::Tensor>& logits) {
      return mux::predict_mux(pair, features, 0, 8, "fp32", "cpu", true,
                              [&](const std::vector<int64_t>& idx, const model::BertOutputs& out) {
                                REQUIRE(out.logits.size(0) == static_cast<int64_t>(idx.size()));
                                for (size_t r = 0; r < idx.size(); ++r) {
                                  CHECK(logits.count(idx[r]) == 0);
                                  logits[idx[r]] = out.logits[static_cast<int64_t>(r)].clone();
                                }
                              });
    };
    std::map<int64_t, at::Tensor> logits5, logits6;
    const auto s5 = predict(five, logits5);
    const auto s6 = predict(six, logits6);
    CHECK(s5.examples == 5);
    CHECK(logits5.size() == 5);
    CHECK(s6.examples == 6);
    CHECK(s5.forward_rows == 6);
    CHECK(s6.forward_rows == 6);
    for (int64_t i = 0; i < 5; ++i) CHECK(torch::equal(logits5.at(i), logits6.at(i)));
    MESSAGE("retrieval counted ", s5.retrieval_counted, " of ", s6.retrieval_counted, ", correct ", s5.retrieval_correct,
            " of ", s6.retrieval_correct);
    // The duplicate's 6 positions scored in `six` where its slot was drawn are missing from `five`.
    CHECK(s5.retrieval_counted < s6.retrieval_counted);
    CHECK(s6.retrieval_counted - s5.retrieval_counted <= 6);
    CHECK(s5.retrieval_correct <= s6.retrieval_correct);

    // forward_rows: 5 rows in, 5 rows out, equal to the explicit duplicate's forward pass.
    std::vector<int64_t> idx = {0, 1, 2, 3, 4};
    const auto batch = train::collate(five, idx, train::LabelKind::kNone, 0);
    const auto rows = mux::forward_rows(pair, batch, torch::kCPU, false);
    const auto pick = torch::tensor(std::vector<int64_t>{0, 1, 2, 3, 4, 4});
    const auto explicit_dup = pair->forward(batch.input_ids.index_select(0, pick), batch.attention_mask.index_select(0, pick),
                                            batch.token_type_ids.index_select(0, pick));
    REQUIRE(rows.logits.size(0) == 5);
    CHECK(torch::equal(rows.logits, explicit_dup.task.logits.slice(0, 0, 5)));
    std::vector<int64_t> g = {4, 7, 9};
    CHECK(mux::pad_to_groups(g, 2) == 3);
    CHECK(g == std::vector<int64_t>{4, 7, 9, 9});
    CHECK(mux::pad_to_groups(g, 3) == 4);
    CHECK(g == std::vector<int64_t>{4, 7, 9, 9, 9, 9});
  }
}
