// lib/mux: shape contracts, exact inversion of the mixers, eval grouping that predicts every example
// exactly once, save/load of the fixed mixing tensors, masks kept exact through mux training, and an
// end-to-end CLI run (train + eval + bench) on the tiny HF fixture.
#include <doctest/doctest.h>

#include <signal.h>

#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "io/safetensors.h"
#include "model/load.h"
#include "mux/demultiplexer.h"
#include "mux/multiplexer.h"
#include "mux/mux_model.h"
#include "mux/mux_train.h"
#include "mux/retrieval.h"
#include "tests/tensor_testing.h"
#include "tests/testing.h"
#include "tokenize/tokenizer.h"

using namespace lth;  // NOLINT: test file
using mux::DemuxKind;
using mux::MuxKind;

namespace {

std::string fixture_model() { return testing::shared_dir() + "/fixtures/hf-bert/model"; }

model::Bert fixture_bert(std::vector<std::string> labels = {"a", "b", "c"}, double dropout = 0.0) {
  model::LoadOptions o;
  o.head = model::HeadKind::kSequenceClassification;
  o.labels = std::move(labels);
  o.hidden_dropout_prob = dropout;
  o.attention_probs_dropout_prob = dropout;
  return model::load_pretrained(fixture_model(), o);
}

mux::MuxConfig fixture_config(int64_t n, MuxKind m, DemuxKind d) {
  mux::MuxConfig c;
  c.n = n;
  c.mux = m;
  c.demux = d;
  c.index_token_format = "[unused_extra{}]";
  auto tok = tokenize::load_tokenizer(fixture_model());
  mux::resolve_index_tokens(c, *tok);
  return c;
}

// Random features: [CLS] tokens [SEP] of lengths in [3, max_len], ids from the fixture vocab (5..159).
std::vector<train::Feature> random_features(int64_t count, int64_t max_len, uint64_t seed, int64_t classes) {
  std::mt19937_64 rng(seed);
  std::vector<train::Feature> out;
  for (int64_t i = 0; i < count; ++i) {
    train::Feature f;
    const int64_t len = 3 + static_cast<int64_t>(rng() % static_cast<uint64_t>(max_len - 2));
    f.input_ids.push_back(2);
    for (int64_t t = 1; t + 1 < len; ++t) f.input_ids.push_back(static_cast<int32_t>(5 + rng() % 150));
    f.input_ids.push_back(3);
    f.token_type_ids.assign(f.input_ids.size(), 0);
    if (classes > 0) f.labels = {static_cast<int32_t>(rng() % static_cast<uint64_t>(classes))};
    out.push_back(std::move(f));
  }
  return out;
}

// A ticket for the fixture BERT: random masks on the 12 prunable encoder matrices.
prune::Mask random_ticket(model::Bert& bert) {
  prune::Mask ticket;
  for (auto& item : bert->named_parameters()) {
    const auto& name = item.key();
    if (name.find("encoder.layer") != std::string::npos && name.size() > 7 &&
        name.compare(name.size() - 7, 7, ".weight") == 0 && name.find("LayerNorm") == std::string::npos) {
      ticket.tensors[name] = torch::rand(item.value().sizes()).gt(0.5);
    }
  }
  return ticket;
}

// Zeros of `model`'s BERT where the ticket is 0 that are not exactly 0.
int64_t mask_violations(mux::MuxBert& model, const prune::Mask& ticket) {
  auto params = model->bert->named_parameters();
  int64_t bad = 0;
  for (const auto& [name, m] : ticket.tensors) bad += params[name].detach().masked_select(m.eq(0)).ne(0).sum().item<int64_t>();
  return bad;
}

// Thrown by a test's after_step hook: the run stops there as if killed (the checkpoint of that step
// is not written: the loop saves after its hooks).
struct Killed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One small mux run (warm-up, then the task) from the same initial state every time, with dropout
// (so the generators must resume too), a ticket, checkpoints every 2 steps and evaluations every 3.
// With `kill_phase`, it stops after that phase's step `kill_at`. `steps_seen`: the (phase, step)
// pairs the run took.
struct SmallMuxRun {
  std::string dir;
  std::string kill_phase;
  int64_t kill_at = 0;
  std::vector<std::pair<std::string, int64_t>> steps_seen;
  int64_t violations = 0;
  mux::MuxTrainResult result;
  std::vector<std::pair<std::string, at::Tensor>> state;  // every BERT and mux tensor at the end

  bool run() {  // false: killed
    torch::manual_seed(11);
    auto bert = fixture_bert({"a", "b", "c"}, 0.1);
    const prune::Mask ticket = random_ticket(bert);
    mux::MuxBert model(bert, fixture_config(2, MuxKind::kHadamard, DemuxKind::kIndex));
    const auto text = random_features(40, 16, 9, 0);
    const auto task = random_features(30, 12, 10, 3);
    mux::MuxTrainConfig cfg;
    cfg.train.length = "8it";
    cfg.train.batch_size = 5;  // not a multiple of N
    cfg.train.lr = 1e-3;
    cfg.train.weight_decay = 0.1;
    cfg.train.save_every = "2it";
    cfg.train.eval_every = "3it";
    cfg.train.progress = false;
    cfg.warmup_steps = 6;
    cfg.warmup_lr = 1e-3;
    cfg.warmup_batch_size = 6;
    mux::MuxTrainHooks hooks;
    hooks.masks = &ticket;
    hooks.evaluate = [&](mux::MuxBert& m) {
      const auto stats = mux::predict_mux(m, task, 0, 4, "fp32", "cpu", true, nullptr);
      return nlohmann::json{{"retrieval_accuracy", stats.retrieval_accuracy()}};
    };
    hooks.main_metric = "retrieval_accuracy";
    hooks.after_step = [&](const std::string& phase, int64_t steps) {
      steps_seen.emplace_back(phase, steps);
      violations += mask_violations(model, ticket);
      if (phase == kill_phase && steps == kill_at) throw Killed(phase);
    };
    try {
      result = mux::train_mux(model, text, {}, task, train::LabelKind::kClass, 0, cfg, hooks, dir);
    } catch (const Killed&) {
      return false;
    }
    violations += mask_violations(model, ticket);
    state.clear();
    for (auto& item : model->bert->named_parameters()) state.emplace_back(item.key(), item.value().detach().clone());
    for (auto& [name, t] : model->mux_state()) state.emplace_back(name, t.detach().clone());
    return true;
  }
};

}  // namespace

TEST_SUITE("mux") {
  TEST_CASE("multiplexers map [G, N, L, H] to [G, L, H] and reject other shapes") {
    for (auto kind : {MuxKind::kHadamard, MuxKind::kOrthogonal, MuxKind::kBinary}) {
      CAPTURE(mux::mux_kind_name(kind));
      mux::Multiplexer m(mux::MultiplexerOptions(4, 16).kind(kind).seed(3));
      auto y = m(torch::randn({2, 4, 5, 16}));
      CHECK(y.sizes() == at::IntArrayRef({2, 5, 16}));
      CHECK(m->inverse(y).sizes() == at::IntArrayRef({2, 4, 5, 16}));
      CHECK_THROWS_AS(m(torch::randn({2, 3, 5, 16})), ShapeError);  // wrong N
      CHECK_THROWS_AS(m(torch::randn({2, 4, 5, 8})), ShapeError);   // wrong hidden
      CHECK_THROWS_AS(m(torch::randn({4, 5, 16})), ShapeError);     // no group dim
      CHECK_THROWS_AS(m->inverse(torch::randn({2, 5, 8})), ShapeError);
    }
    try {
      mux::Multiplexer m(mux::MultiplexerOptions(4, 16));
      m(torch::randn({2, 3, 5, 16}));
      FAIL("no ShapeError");
    } catch (const ShapeError& e) {
      CHECK(std::string(e.what()).find("N=4") != std::string::npos);
      CHECK(std::string(e.what()).find("[2, 3, 5, 16]") != std::string::npos);
    }
  }

  TEST_CASE("Hadamard vectors are normalised; orthogonal matrices are orthogonal; binary chunks are disjoint") {
    mux::Multiplexer h(mux::MultiplexerOptions(5, 32).kind(MuxKind::kHadamard).norm(3.0));
    EXPECT_CLOSE(h->weights().norm(2, {1}), torch::full({5}, 3.0), 1e-5, 1e-5, "hadamard norms");
    mux::Multiplexer o(mux::MultiplexerOptions(3, 24).kind(MuxKind::kOrthogonal));
    auto w = o->weights();
    EXPECT_CLOSE(torch::matmul(w, w.transpose(-1, -2)), torch::eye(24).expand({3, 24, 24}), 1e-5, 0, "W W^T = I");
    mux::Multiplexer b(mux::MultiplexerOptions(3, 10).kind(MuxKind::kBinary));
    CHECK(torch::equal(b->weights().sum(0), torch::ones({10})));
    // Same seed, same draw; another seed, another draw.
    mux::Multiplexer o2(mux::MultiplexerOptions(3, 24).kind(MuxKind::kOrthogonal));
    mux::Multiplexer o3(mux::MultiplexerOptions(3, 24).kind(MuxKind::kOrthogonal).seed(1));
    CHECK(torch::equal(o->weights(), o2->weights()));
    CHECK_FALSE(torch::equal(o->weights(), o3->weights()));
  }

  TEST_CASE("a mux followed by its inverse through an identity encoder recovers every instance exactly") {
    const int64_t n = 4, hid = 32, g = 2, l = 3;
    for (auto kind : {MuxKind::kOrthogonal, MuxKind::kHadamard, MuxKind::kBinary}) {
      CAPTURE(mux::mux_kind_name(kind));
      if (kind != MuxKind::kBinary) {
        // N = 1: any input comes back.
        mux::Multiplexer one(mux::MultiplexerOptions(1, hid).kind(kind).seed(11));
        auto x = torch::randn({g, 1, l, hid});
        EXPECT_CLOSE(one->inverse(one(x)), x, 1e-5, 1e-5, "N=1 round trip");
      }
      // N = 4: instances whose mixed signals occupy disjoint blocks of the hidden dim (block i for
      // instance i). The identity encoder passes the mix through; projecting it on block i and
      // inverting gives back instance i exactly.
      mux::Multiplexer m(mux::MultiplexerOptions(n, hid).kind(kind).seed(5));
      const auto w = m->weights();
      std::vector<at::Tensor> xs;
      for (int64_t i = 0; i < n; ++i) {
        auto z = torch::zeros({g, l, hid});
        const auto [b, e] = m->chunk(i);
        z.slice(2, b, e).copy_(torch::randn({g, l, e - b}) + 0.5);
        // x_i such that instance i's mixed contribution is z (before the 1/N or 1/sqrt(N) factor).
        at::Tensor x;
        if (kind == MuxKind::kOrthogonal) x = torch::matmul(z, w[i].t());
        else if (kind == MuxKind::kHadamard) x = z / w[i];
        else x = z;  // binary keeps exactly block i
        xs.push_back(x);
      }
      const auto stacked = torch::stack(xs, 1);  // [G, N, L, H]
      const auto y = m(stacked);                 // mux
      const auto encoded = y.clone();            // identity encoder
      for (int64_t i = 0; i < n; ++i) {
        const auto [b, e] = m->chunk(i);
        auto own = torch::zeros_like(encoded);
        own.slice(2, b, e).copy_(encoded.slice(2, b, e));
        auto recovered = m->inverse(own).select(1, i);
        auto expected = stacked.select(1, i);
        if (kind == MuxKind::kBinary) expected = expected * w[i];  // binary only ever keeps block i
        EXPECT_CLOSE(recovered, expected, 1e-5, 1e-5, fmt::format("instance {}", i));
      }
    }
  }

  TEST_CASE("demultiplexers: shapes, select = gather of forward, ShapeError on wrong shapes") {
    const int64_t n = 3, hid = 16, g = 2, l = 5;
    for (auto kind : {DemuxKind::kIndex, DemuxKind::kKeys, DemuxKind::kMlp}) {
      CAPTURE(mux::demux_kind_name(kind));
      mux::Demultiplexer d(mux::DemultiplexerOptions(n, hid).kind(kind));
      const int64_t p = d->prefix_length();
      CHECK(p == (kind == DemuxKind::kIndex ? n : 0));
      auto hidden = torch::randn({g, p + l, hid});
      auto all = d(hidden);
      CHECK(all.sizes() == at::IntArrayRef({g, n, l, hid}));
      EXPECT_CLOSE(d->first(hidden), all.select(2, 0), 1e-5, 1e-5, "first = position 0");
      auto which = torch::randint(0, n, {g, l}, torch::kLong);
      auto sel = d->select(hidden, which);
      CHECK(sel.sizes() == at::IntArrayRef({g, l, hid}));
      for (int64_t a = 0; a < g; ++a)
        for (int64_t t = 0; t < l; ++t)
          EXPECT_CLOSE(sel[a][t], all[a][which[a][t].item<int64_t>()][t], 1e-5, 1e-5, "select");
      CHECK_THROWS_AS(d(torch::randn({g, p + l, hid + 1})), ShapeError);
      CHECK_THROWS_AS(d(torch::randn({p + l, hid})), ShapeError);
      CHECK_THROWS_AS(d->select(hidden, torch::zeros({g, l + 1}, torch::kLong)), ShapeError);
    }
    mux::RetrievalHead r(mux::RetrievalHeadOptions(16, 50));
    CHECK(r(torch::randn({2, 5, 16}), torch::randn({50, 16})).sizes() == at::IntArrayRef({2, 5, 50}));
    CHECK_THROWS_AS(r(torch::randn({2, 5, 16}), torch::randn({49, 16})), ShapeError);
    CHECK_THROWS_AS(mux::retrieval_loss(torch::randn({2, 5, 50}), torch::zeros({2, 4}, torch::kLong)), ShapeError);
  }

  TEST_CASE("index tokens come from the tokenizer's table, with a clear error when absent") {
    auto tok = tokenize::load_tokenizer(fixture_model());
    mux::MuxConfig c;
    c.n = 3;
    c.index_token_format = "[unused_extra{}]";
    mux::resolve_index_tokens(c, *tok);
    CHECK(c.filler_token == "[unused_extra0]");
    CHECK(c.index_tokens == std::vector<std::string>{"[unused_extra1]", "[unused_extra2]", "[unused_extra3]"});
    CHECK(c.filler_id == tok->find_id("[unused_extra0]"));
    CHECK(c.index_ids[2] == tok->find_id("[unused_extra3]"));
    c.index_token_format = "[unused{}]";  // the fixture vocabulary has none of these
    try {
      mux::resolve_index_tokens(c, *tok);
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK(std::string(e.what()).find("[unused0]") != std::string::npos);
      CHECK(std::string(e.what()).find("--index-tokens") != std::string::npos);
    }
    c.n = 41;  // needs [unused_extra0]..[unused_extra41]: the fixture has 0..40
    c.index_token_format = "[unused_extra{}]";
    CHECK_THROWS_AS(mux::resolve_index_tokens(c, *tok), ConfigError);
  }

  TEST_CASE("MuxBert forward: shapes for every mux × demux; ShapeError when rows are not a multiple of N") {
    for (auto m : {MuxKind::kHadamard, MuxKind::kOrthogonal, MuxKind::kBinary}) {
      for (auto d : {DemuxKind::kIndex, DemuxKind::kKeys, DemuxKind::kMlp}) {
        CAPTURE(mux::mux_kind_name(m));
        CAPTURE(mux::demux_kind_name(d));
        mux::MuxBert model(fixture_bert(), fixture_config(3, m, d));
        model->eval();
        const int64_t rows = 6, len = 7;
        auto ids = torch::randint(5, 150, {rows, len}, torch::kLong);
        auto mask = torch::ones({rows, len}, torch::kLong);
        mask.slice(1, 5).zero_();
        auto types = torch::zeros({rows, len}, torch::kLong);
        mux::MuxForwardOptions fo;
        fo.retrieval = true;
        auto out = model->forward(ids, mask, types, fo);
        CHECK(out.task.logits.sizes() == at::IntArrayRef({rows, 3}));
        // Padding of every instance is never scored: 2 groups x 5 valid positions.
        CHECK(out.retrieval_logits.sizes() == at::IntArrayRef({2 * 5, 200}));
        CHECK(out.retrieval_targets.sizes() == at::IntArrayRef({2 * 5}));
        CHECK(out.retrieval_positions.remainder(len).lt(5).all().item<bool>());
        // The targets are the chosen instances' tokens: every target occurs at its position in
        // one of the group's N rows.
        for (int64_t k = 0; k < out.retrieval_positions.size(0); ++k) {
          const int64_t g = out.retrieval_positions[k].item<int64_t>() / len, l = out.retrieval_positions[k].item<int64_t>() % len;
          CHECK(ids.slice(0, g * 3, g * 3 + 3).select(1, l).eq(out.retrieval_targets[k]).any().item<bool>());
        }
        // A fraction scores a subset of those positions, drawn from the generator.
        fo.retrieval_fraction = 0.5;
        fo.generator = at::make_generator<at::CPUGeneratorImpl>(5);
        auto half = model->forward(ids, mask, types, fo);
        CHECK(half.retrieval_targets.size(0) < 2 * 5);
        CHECK(half.retrieval_logits.size(0) == half.retrieval_targets.size(0));
        fo.retrieval_fraction = 1.0;
        CHECK_THROWS_AS(model->forward(ids.slice(0, 0, 5), mask.slice(0, 0, 5), types.slice(0, 0, 5)), ShapeError);
        CHECK_THROWS_AS(model->forward(ids, mask.slice(1, 0, 6), types), ShapeError);
      }
    }
    // Too long for the position table once the prefix is added: 62 + 3 > 64.
    mux::MuxBert model(fixture_bert(), fixture_config(3, MuxKind::kHadamard, DemuxKind::kIndex));
    auto ids = torch::full({3, 62}, 7, torch::kLong);
    CHECK_THROWS_AS(model->forward(ids, torch::ones_like(ids), torch::zeros_like(ids)), ShapeError);
  }

  TEST_CASE("eval predicts every example exactly once for sizes not divisible by N") {
    torch::manual_seed(1);
    for (int64_t n : {2, 3, 5}) {
      mux::MuxBert model(fixture_bert(), fixture_config(n, MuxKind::kHadamard, DemuxKind::kIndex));
      for (int64_t size : {1, 7, 10, 11}) {
        CAPTURE(n);
        CAPTURE(size);
        const auto features = random_features(size, 12, static_cast<uint64_t>(size), 3);
        std::vector<int> seen(static_cast<size_t>(size), 0);
        int64_t logit_rows = 0;
        const auto stats = mux::predict_mux(model, features, 0, 4, "fp32", "cpu", true,
                                            [&](const std::vector<int64_t>& idx, const model::BertOutputs& out) {
                                              CHECK(out.logits.size(0) == static_cast<int64_t>(idx.size()));
                                              logit_rows += out.logits.size(0);
                                              for (auto i : idx) ++seen[static_cast<size_t>(i)];
                                            });
        CHECK(stats.examples == size);
        CHECK(logit_rows == size);
        CHECK(stats.forward_rows % n == 0);
        CHECK(stats.forward_rows >= size);
        CHECK(std::all_of(seen.begin(), seen.end(), [](int k) { return k == 1; }));
        // Scored positions: at most one per group and position of the real rows, so at most the
        // real rows' tokens; at least the 3+ positions ([CLS] x [SEP]) of every group without padding.
        int64_t tokens = 0;
        for (const auto& f : features) tokens += static_cast<int64_t>(f.input_ids.size());
        CHECK(stats.retrieval_counted <= tokens);
        CHECK(stats.retrieval_counted >= 3 * (size / n));
      }
    }
  }

  TEST_CASE("mux parameters and the fixed mixing tensors are identical after save/load") {
    testing::TempDir tmp("mux-save");
    for (auto m : {MuxKind::kHadamard, MuxKind::kOrthogonal}) {
      for (auto d : {DemuxKind::kIndex, DemuxKind::kKeys, DemuxKind::kMlp}) {
        CAPTURE(mux::mux_kind_name(m));
        CAPTURE(mux::demux_kind_name(d));
        auto config = fixture_config(2, m, d);
        config.seed = 12345;
        mux::MuxBert model(fixture_bert(), config);
        {
          torch::NoGradGuard no_grad;
          for (auto& [name, p] : model->mux_parameters()) p.add_(torch::randn_like(p) * 0.1);  // "trained"
        }
        const std::string dir = tmp.file(std::string(mux::mux_kind_name(m)) + "-" + mux::demux_kind_name(d));
        mux::save_mux(model, dir, fixture_model());
        CHECK(mux::is_mux_dir(dir));
        auto loaded = mux::load_mux(dir);
        auto a = model->mux_state(), b = loaded->mux_state();
        REQUIRE(a.size() == b.size());
        for (size_t i = 0; i < a.size(); ++i) {
          CAPTURE(a[i].first);
          CHECK(a[i].first == b[i].first);
          CHECK(torch::equal(a[i].second, b[i].second));
        }
        CHECK(loaded->config().to_json() == model->config().to_json());
        model->eval();
        loaded->eval();
        auto ids = torch::randint(5, 150, {4, 6}, torch::kLong);
        auto o1 = model->forward(ids, torch::ones_like(ids), torch::zeros_like(ids));
        auto o2 = loaded->forward(ids, torch::ones_like(ids), torch::zeros_like(ids));
        CHECK(torch::equal(o1.task.logits, o2.task.logits));
      }
    }
    // A mux.safetensors that does not fit the config is rejected with every problem named.
    auto config = fixture_config(2, MuxKind::kHadamard, DemuxKind::kIndex);
    mux::MuxBert model(fixture_bert(), config);
    const std::string dir = tmp.file("broken");
    mux::save_mux(model, dir, fixture_model());
    // mux_config.json from before "pooling" existed reads as the position-0 pooling those models used;
    // an unknown pooling is a ConfigError naming the file.
    {
      auto j = lth::read_json_file(dir + "/mux_config.json");
      CHECK(j.at("pooling") == "mean");
      j.erase("pooling");
      lth::write_file_atomic(dir + "/mux_config.json", j.dump());
      CHECK(mux::load_mux(dir)->config().pooling == mux::PoolingKind::kFirst);
      j["pooling"] = "max";
      lth::write_file_atomic(dir + "/mux_config.json", j.dump());
      const std::string err = testing::error_of<ConfigError>([&] { mux::load_mux(dir); });
      CHECK_MESSAGE(err.find("mux_config.json: unknown pooling 'max'") != std::string::npos, err);
      j["pooling"] = "mean";
      lth::write_file_atomic(dir + "/mux_config.json", j.dump());
    }
    auto state = model->mux_state();
    state.erase(state.begin());
    state.emplace_back("extra.tensor", torch::zeros({2}));
    io::save_safetensors(dir + "/mux.safetensors", state);
    try {
      mux::load_mux(dir);
      FAIL("no error");
    } catch (const IoError& e) {
      CHECK(std::string(e.what()).find("mux.weights") != std::string::npos);
      CHECK(std::string(e.what()).find("extra.tensor") != std::string::npos);
    }
  }

  TEST_CASE("a masked encoder keeps exact zeros through mux warm-up and fine-tuning") {
    testing::TempDir tmp("mux-mask");
    torch::manual_seed(3);
    auto bert = fixture_bert();
    const prune::Mask ticket = random_ticket(bert);
    const auto& masks = ticket.tensors;
    REQUIRE(masks.size() == 12);  // 2 layers × (Q, K, V, attention output, intermediate, output)
    mux::MuxBert model(bert, fixture_config(2, MuxKind::kHadamard, DemuxKind::kIndex));
    const auto text = random_features(40, 16, 9, 0);
    const auto task = random_features(30, 12, 10, 3);
    mux::MuxTrainConfig cfg;
    cfg.train.length = "6it";
    cfg.train.batch_size = 5;  // not a multiple of N: groups completed with duplicates
    cfg.train.lr = 1e-3;
    cfg.train.weight_decay = 0.1;
    cfg.train.progress = false;
    cfg.train.save_models = false;
    cfg.warmup_steps = 4;
    cfg.warmup_lr = 1e-3;
    mux::MuxTrainHooks hooks;
    hooks.masks = &ticket;
    // After every optimizer step of both phases, not only at the end.
    int64_t violations = 0;
    std::map<std::string, int64_t> steps;
    hooks.after_step = [&](const std::string& phase, int64_t) {
      ++steps[phase];
      violations += mask_violations(model, ticket);
    };
    const auto before = model->bert->named_parameters()["bert.encoder.layer.0.attention.self.query.weight"].clone();
    auto result = mux::train_mux(model, text, {}, task, train::LabelKind::kClass, 0, cfg, hooks, tmp.path());
    CHECK(result.steps == 6);
    CHECK(steps == std::map<std::string, int64_t>{{"task", 6}, {"warmup", 4}});
    CHECK(violations == 0);
    CHECK(result.warmup_metrics.at("examples") == 40);  // measured on the 40 text sequences (no dev text)
    CHECK(result.warmup_metrics.at("step") == 4);
    auto params = model->bert->named_parameters();
    for (const auto& entry : masks) {
      const auto& name = entry.first;  // not a binding: CAPTURE/INFO capture it in a lambda (C++17)
      const auto& m = entry.second;
      CAPTURE(name);
      const auto p = params[name];
      CHECK(p.masked_select(m.eq(0)).eq(0).all().item<bool>());
      CHECK(p.masked_select(m.eq(1)).ne(0).any().item<bool>());
    }
    // The kept weights did train.
    const auto after = params["bert.encoder.layer.0.attention.self.query.weight"];
    const auto kept = masks.at("bert.encoder.layer.0.attention.self.query.weight").eq(1);
    CHECK_FALSE(torch::equal(after.masked_select(kept), before.masked_select(kept)));
    CHECK(lth::path_exists(tmp.file("result.json")));
  }

  TEST_CASE("a mux run stopped in its warm-up or task phase resumes to exactly the uninterrupted run's weights") {
    testing::TempDir tmp("mux-resume");
    SmallMuxRun straight;
    straight.dir = tmp.file("straight");
    REQUIRE(straight.run());
    CHECK(straight.violations == 0);
    REQUIRE(straight.steps_seen.size() == 6 + 8);
    CHECK(straight.result.steps == 8);
    CHECK(straight.result.warmup_metrics.at("examples") == 40);
    CHECK(straight.result.warmup_metrics.at("step") == 6);
    // The layout: the warm-up's run in warmup/ (its final state kept), the task's in the run itself.
    CHECK(lth::path_exists(straight.dir + "/warmup/result.json"));
    CHECK(lth::path_exists(straight.dir + "/warmup/checkpoint/state.safetensors"));
    CHECK(lth::path_exists(straight.dir + "/result.json"));
    CHECK_FALSE(lth::path_exists(straight.dir + "/checkpoint"));
    CHECK(lth::read_json_file(straight.dir + "/result.json").at("warmup") == straight.result.warmup_metrics);

    // Stopped: between two warm-up checkpoints; after the warm-up, before the task's first
    // checkpoint; between two task checkpoints. The second call resumes from the last checkpoint.
    const std::vector<std::pair<std::string, int64_t>> kills = {{"warmup", 5}, {"task", 1}, {"task", 5}};
    for (const auto& [phase, at] : kills) {
      const std::string where = phase + " step " + std::to_string(at);
      CAPTURE(where);
      SmallMuxRun killed;
      killed.dir = tmp.file("killed-" + phase + std::to_string(at));
      killed.kill_phase = phase;
      killed.kill_at = at;
      REQUIRE_FALSE(killed.run());
      CHECK_FALSE(lth::path_exists(killed.dir + "/result.json"));
      SmallMuxRun resumed;
      resumed.dir = killed.dir;
      REQUIRE(resumed.run());
      CHECK(resumed.violations == 0);
      // It resumed (it did not start over): its first step is the one after the last checkpoint
      // (every 2 steps), and a finished warm-up is not run again.
      REQUIRE_FALSE(resumed.steps_seen.empty());
      const auto expected_first = std::make_pair(phase, (at - 1) / 2 * 2 + 1);
      CHECK(resumed.steps_seen.front() == expected_first);
      CHECK(resumed.result.final_metrics == straight.result.final_metrics);
      CHECK(resumed.result.best_metrics == straight.result.best_metrics);
      CHECK(resumed.result.warmup_metrics == straight.result.warmup_metrics);
      REQUIRE(resumed.state.size() == straight.state.size());
      for (size_t i = 0; i < straight.state.size(); ++i) {
        CAPTURE(straight.state[i].first);
        CHECK(resumed.state[i].first == straight.state[i].first);
        CHECK(torch::equal(resumed.state[i].second, straight.state[i].second));
      }
    }
  }

  TEST_CASE("CLI: lth mux train --profile logs each phase's time; a repeated command is free") {
    testing::TempDir tmp("mux-profile");
    {
      std::ofstream train(tmp.file("train.tsv"));
      train << "sentence\tlabel\n";
      for (int i = 0; i < 12; ++i) train << (i % 2 ? "a good film" : "the awful movie") << "\t" << i % 2 << "\n";
      std::ofstream text(tmp.file("text.txt"));
      for (int i = 0; i < 40; ++i) text << "the film is good and the movie was awful " << i << "\n";
    }
    const std::string args = "mux train --model " + testing::quote(fixture_model()) + " --task glue/sst2 --train " +
                             testing::quote(tmp.file("train.tsv")) + " --dev " + testing::quote(tmp.file("train.tsv")) +
                             " --n 2 --demux keys --steps 4 --batch-size 4 --max-length 16 --threads 1" +
                             " --precision fp32 --warmup-steps 3 --text " + testing::quote(tmp.file("text.txt")) +
                             " --out " + testing::quote(tmp.file("run"));
    auto first = testing::run_lth(args + " --profile");
    INFO(first.err);
    REQUIRE(first.exit_code == 0);
    // One [profile] line per phase: 3 warm-up steps, then 4 task steps.
    CHECK(first.err.find("[profile] 3 steps") != std::string::npos);
    CHECK(first.err.find("[profile] 4 steps") != std::string::npos);
    CHECK(first.err.find("forward") != std::string::npos);
    auto again = testing::run_lth(args);
    INFO(again.err);
    REQUIRE(again.exit_code == 0);
    CHECK(again.err.find("skipped") != std::string::npos);
    CHECK(again.err.find("warm-up") == std::string::npos);  // not even the warm-up ran again
    CHECK(nlohmann::json::parse(again.out) == nlohmann::json::parse(first.out));
  }

  TEST_CASE("CLI: lth mux train killed (-9) in its warm-up or stopped (SIGINT) in its task phase, run again: the same weights") {
    testing::TempDir tmp("mux-kill");
    // SST-2's first 48 dev examples (evaluated after every task step, which keeps the steps long
    // enough to stop the run between checkpoints) and 300 training sentences as raw text.
    std::istringstream dev_in(lth::read_file(testing::shared_dir() + "/data/glue/SST-2/dev.tsv"));
    std::istringstream train_in(lth::read_file(testing::shared_dir() + "/data/glue/SST-2/train.tsv"));
    std::string dev, text, line;
    for (int i = 0; i < 49 && std::getline(dev_in, line); ++i) dev += line + "\n";
    std::getline(train_in, line);  // header
    for (int i = 0; i < 300 && std::getline(train_in, line); ++i) text += line.substr(0, line.find('\t')) + "\n";
    lth::write_file_atomic(tmp.file("dev.tsv"), dev);
    lth::write_file_atomic(tmp.file("text.txt"), text);
    auto args = [&](const std::string& out) {
      return std::vector<std::string>{
          "mux", "train", "--model", fixture_model(), "--task", "glue/sst2", "--data",
          testing::shared_dir() + "/data/glue/SST-2", "--dev", tmp.file("dev.tsv"), "--max-train-examples", "64",
          "--max-length", "32", "--n", "2", "--mux", "ortho", "--demux", "index", "--index-tokens", "[unused_extra{}]",
          "--batch-size", "5", "--steps", "24", "--lr", "1e-3", "--weight-decay", "0.01", "--warmup-steps", "30",
          "--warmup-batch-size", "6", "--text", tmp.file("text.txt"), "--save-every", "3it", "--eval-every", "1it",
          "--threads", "1", "--precision", "fp32", "--out", out};
    };
    auto run_to_end = [&](const std::string& out) {
      std::string line;
      for (const auto& a : args(out)) line += testing::quote(a) + " ";
      return testing::run_lth(line);
    };
    auto check_same_model = [](const std::string& a, const std::string& b) {
      for (const char* file : {"/model/model.safetensors", "/model/mux.safetensors"}) {
        CAPTURE(file);
        io::SafetensorsFile fa(a + file), fb(b + file);
        const auto ta = fa.load_all(), tb = fb.load_all();
        REQUIRE(ta.size() == tb.size());
        REQUIRE(!ta.empty());
        for (size_t i = 0; i < ta.size(); ++i) {
          CAPTURE(ta[i].first);
          CHECK(ta[i].first == tb[i].first);
          CHECK(torch::equal(ta[i].second, tb[i].second));
        }
      }
    };
    const std::string straight = tmp.file("straight");
    auto r = run_to_end(straight);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const auto straight_line = nlohmann::json::parse(r.out);

    {  // SIGKILL once the warm-up has written its first checkpoint
      const std::string killed = tmp.file("killed");
      const int pid = testing::spawn_lth(args(killed), tmp.path());
      const bool appeared = testing::wait_for_file(killed + "/warmup/checkpoint/state.safetensors", pid);
      if (appeared) ::kill(pid, SIGKILL);
      const auto e = testing::wait_exit(pid);
      REQUIRE_MESSAGE(appeared, lth::read_file(tmp.file("stderr")));
      CHECK(e.signal == SIGKILL);
      REQUIRE_FALSE(lth::path_exists(killed + "/result.json"));
      r = run_to_end(killed);
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      CHECK_MESSAGE(r.err.find("resuming") != std::string::npos, r.err);
      CHECK(nlohmann::json::parse(r.out) == straight_line);
      check_same_model(straight, killed);
    }
    {  // SIGINT in the task phase: a checkpoint, exit 1, and the rerun continues from it
      const std::string stopped = tmp.file("stopped");
      const int pid = testing::spawn_lth(args(stopped), tmp.path());
      const bool appeared = testing::wait_for_file(stopped + "/checkpoint/state.safetensors", pid);
      if (appeared) ::kill(pid, SIGINT);
      const auto e = testing::wait_exit(pid);
      const std::string err = lth::read_file(tmp.file("stderr"));
      REQUIRE_MESSAGE(appeared, err);
      CHECK(e.code == 1);
      CHECK_MESSAGE(err.find("interrupted") != std::string::npos, err);
      REQUIRE_FALSE(lth::path_exists(stopped + "/result.json"));
      r = run_to_end(stopped);
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      CHECK_MESSAGE(r.err.find("resuming") != std::string::npos, r.err);
      CHECK_MESSAGE(r.err.find("warm-up retrieval accuracy") == std::string::npos, r.err);  // the warm-up was done
      CHECK(nlohmann::json::parse(r.out) == straight_line);
      check_same_model(straight, stopped);
    }
  }

  TEST_CASE("CLI: lth mux train + eval + bench on the fixture model") {
    testing::TempDir tmp("mux-cli");
    // SST-2-style files: 11 training and 7 dev examples (7 is not a multiple of N=2).
    const std::vector<std::string> words = {"good", "bad", "the", "a", "film", "movie", "is", "was", "fine", "awful"};
    auto write_tsv = [&](const std::string& path, int rows, int seed) {
      std::ofstream out(path);
      out << "sentence\tlabel\n";
      std::mt19937 rng(static_cast<unsigned>(seed));
      std::vector<std::pair<std::string, int>> written;
      for (int i = 0; i < rows; ++i) {
        std::string s;
        for (int w = 0; w < 5; ++w) s += (w ? " " : "") + words[rng() % words.size()];
        written.emplace_back(s, static_cast<int>(rng() % 2));
        out << s << "\t" << written.back().second << "\n";
      }
      return written;
    };
    write_tsv(tmp.file("train.tsv"), 11, 1);
    const auto dev_rows = write_tsv(tmp.file("dev.tsv"), 7, 2);
    {
      std::ofstream text(tmp.file("text.txt"));
      std::mt19937 rng(3);
      for (int line = 0; line < 40; ++line) {
        for (int w = 0; w < 12; ++w) text << (w ? " " : "") << words[rng() % words.size()];
        text << "\n";
      }
    }
    const std::string model = testing::quote(fixture_model());
    const std::string run = tmp.file("run");
    auto train = testing::run_lth(
        "mux train --model " + model + " --task glue/sst2 --train " + testing::quote(tmp.file("train.tsv")) +
        " --dev " + testing::quote(tmp.file("dev.tsv")) + " --n 2 --mux ortho --demux index" +
        " --index-tokens '[unused_extra{}]' --steps 3 --batch-size 4 --max-length 16 --threads 1 --precision fp32" +
        " --warmup-steps 3 --text " + testing::quote(tmp.file("text.txt")) + " --out " + testing::quote(run));
    INFO(train.err);
    REQUIRE(train.exit_code == 0);
    auto trained = nlohmann::json::parse(train.out);
    CHECK(trained["n"] == 2);
    CHECK(trained["examples"] == 7);
    const auto warmup_result = lth::read_json_file(run + "/warmup/result.json");
    CHECK(warmup_result.at("final").at("step") == 3);  // measured after --warmup-steps 3
    // The warm-up's learning curve: held-out retrieval ten times over the warm-up (here: every step),
    // with the unigram baseline and the any-instance share, which bound the accuracy.
    std::vector<int64_t> curve_steps;
    for (const auto& line : testing::read_jsonl(run + "/warmup/metrics.jsonl")) {
      if (line.value("split", "") != "dev") continue;
      curve_steps.push_back(line.at("step").get<int64_t>());
      const double acc = line.at("retrieval_accuracy"), any = line.at("retrieval_any_instance_accuracy"),
                   unigram = line.at("retrieval_unigram_accuracy");
      CHECK(acc <= any);
      CHECK(unigram > 0.0);
      CHECK(unigram <= 1.0);
    }
    CHECK(curve_steps == std::vector<int64_t>{1, 2, 3});
    CHECK(trained.at("warmup_retrieval_accuracy") == warmup_result.at("final").at("retrieval_accuracy"));
    CHECK(lth::path_exists(run + "/model/mux.safetensors"));
    CHECK(lth::path_exists(run + "/model/mux_config.json"));
    CHECK(lth::path_exists(run + "/warmup/result.json"));  // the warm-up's own run
    CHECK_FALSE(lth::path_exists(run + "/checkpoint"));

    // The dev accuracy recomputed in this process from the saved model: the sentences encoded as
    // [CLS] a [SEP], ordered longest first (stable), consecutive pairs multiplexed, the 7th example's
    // group completed with a copy of it, each row's argmax against its label from the file.
    double expected_accuracy = 0.0;
    {
      auto saved = mux::load_mux(run + "/model");
      saved->eval();
      auto tok = tokenize::load_tokenizer(run + "/model");
      tokenize::EncodeOptions enc;
      enc.max_length = 16;
      std::vector<train::Feature> features;
      for (const auto& [sentence, label] : dev_rows) {
        const auto e = tok->encode(sentence, nullptr, enc);
        train::Feature f;
        f.input_ids.assign(e.input_ids.begin(), e.input_ids.end());
        f.token_type_ids.assign(e.token_type_ids.begin(), e.token_type_ids.end());
        features.push_back(std::move(f));
      }
      std::vector<int64_t> order(features.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return features[a].input_ids.size() > features[b].input_ids.size();
      });
      order.push_back(order.back());
      const auto batch = train::collate(features, order, train::LabelKind::kNone, tok->pad_id());
      torch::NoGradGuard no_grad;
      const auto pred = saved->forward(batch.input_ids, batch.attention_mask, batch.token_type_ids).task.logits.argmax(-1);
      int correct = 0;
      for (size_t r = 0; r < dev_rows.size(); ++r) {
        correct += pred[static_cast<int64_t>(r)].item<int64_t>() == dev_rows[static_cast<size_t>(order[r])].second;
      }
      expected_accuracy = correct / 7.0;
    }
    CHECK(trained["accuracy"].get<double>() == doctest::Approx(expected_accuracy).epsilon(1e-12));
    auto eval = testing::run_lth("mux eval --model " + testing::quote(run) + " --threads 1 --precision fp32");
    INFO(eval.err);
    REQUIRE(eval.exit_code == 0);
    auto metrics = nlohmann::json::parse(eval.out);
    CHECK(metrics["examples"] == 7);
    CHECK(metrics["n"] == 2);
    CHECK(metrics["accuracy"].get<double>() == doctest::Approx(expected_accuracy).epsilon(1e-12));
    const double retrieval = metrics["retrieval_accuracy"].get<double>();
    CHECK(retrieval >= 0.0);
    CHECK(retrieval <= 1.0);
    // The run's model directory alone has no task to inherit: a usage error, not a JSON type error.
    auto bare = testing::run_lth("mux eval --model " + testing::quote(run + "/model") + " --threads 1");
    CHECK(bare.exit_code == 2);
    CHECK_MESSAGE(bare.err.find("give --task") != std::string::npos, bare.err);

    auto bench = testing::run_lth("mux bench --model " + model +
                                  " --n 1,2,5 --seq-len 16 --rounds 2 --threads 1 --json --index-tokens "
                                  "'[unused_extra{}]' --runs " + testing::quote(run));
    INFO(bench.err);
    REQUIRE(bench.exit_code == 0);
    auto b = nlohmann::json::parse(bench.out);
    // --n 1,2,5 with the command's settings (the default hadamard/mlp), and the run's own
    // configuration (N=2, ortho/index): the throughput beside its accuracy is that of the model it trained.
    REQUIRE(b["rows"].size() == 4);
    std::vector<std::string> configs;
    for (const auto& row : b["rows"]) {
      configs.push_back(fmt::format("{} {}/{}", row["n"].get<int64_t>(), row["mux"].get<std::string>(),
                                    row["demux"].get<std::string>()));
      CHECK(row["instances_per_s"].get<double>() > 0);
      CHECK(row["sparsity"].get<double>() == 0.0);
      // Throughput over the N=1 row's.
      CHECK(row["speedup"].get<double>() ==
            doctest::Approx(row["instances_per_s"].get<double>() / b["rows"][0]["instances_per_s"].get<double>()));
    }
    CHECK(configs == std::vector<std::string>{"1 hadamard/mlp", "2 hadamard/mlp", "2 ortho/index", "5 hadamard/mlp"});
    CHECK(b["rows"][0]["speedup"].get<double>() == doctest::Approx(1.0));
    // The trained run sits beside its own configuration's row only, with its dev accuracy and curve.
    for (const size_t k : std::vector<size_t>{0, 1, 3}) CHECK_FALSE(b["rows"][k].contains("runs"));
    REQUIRE(b["rows"][2]["runs"].size() == 1);
    const auto& bench_run = b["rows"][2]["runs"][0];
    CHECK(bench_run["accuracy"].get<double>() == doctest::Approx(expected_accuracy).epsilon(1e-12));
    CHECK(bench_run["metric"] == "accuracy");
    REQUIRE(bench_run["warmup_curve"].size() == 3);
    CHECK(bench_run["warmup_curve"][2]["retrieval_accuracy"] == warmup_result.at("final").at("retrieval_accuracy"));

    auto text_bench = testing::run_lth("mux bench --model bert-tiny --n 1,2 --seq-len 8 --rounds 1 --threads 1");
    INFO(text_bench.err);
    CHECK(text_bench.exit_code == 0);
    CHECK(text_bench.out.find("instances/s") != std::string::npos);

    // --mask: a ticket mask file by HF names; the trained model keeps its zeros.
    const std::string qname = "bert.encoder.layer.0.attention.self.query.weight";
    auto qmask = torch::rand({32, 32}).gt(0.5).to(torch::kFloat32);
    // A mask file as lth writes them (U8 0/1): mux train reads masks through prune::load_mask.
    io::save_safetensors(tmp.file("mask.safetensors"), {{qname, qmask.to(torch::kUInt8)}});
    const std::string masked_run = tmp.file("masked");
    auto masked = testing::run_lth(
        "mux train --model " + model + " --task glue/sst2 --train " + testing::quote(tmp.file("train.tsv")) +
        " --dev " + testing::quote(tmp.file("dev.tsv")) + " --n 2 --demux keys --steps 3 --batch-size 4" +
        " --max-length 16 --threads 1 --precision fp32 --lr 1e-2 --weight-decay 0.1 --mask " + testing::quote(tmp.file("mask.safetensors")) +
        " --out " + testing::quote(masked_run));
    INFO(masked.err);
    REQUIRE(masked.exit_code == 0);
    auto trained_masked = mux::load_mux(masked_run + "/model");
    const auto q = trained_masked->bert->named_parameters()[qname];
    CHECK(q.masked_select(qmask.eq(0)).eq(0).all().item<bool>());
    CHECK(q.masked_select(qmask.eq(1)).ne(0).all().item<bool>());
    // The frontier over sparsity: the masked run's row is its own (N=2, keys, its mask), with the
    // mask's pruned share; the dense run's stays dense. lth report reads the same JSON.
    const std::string bench_args = "mux bench --model " + model + " --n 1 --seq-len 16 --rounds 1 --threads 1 --json --runs " +
                                   testing::quote(run) + " " + testing::quote(masked_run);
    auto no_dir = testing::run_lth(bench_args + " --out " + testing::quote(tmp.file("missing/frontier.json")));
    CHECK(no_dir.exit_code == 2);
    CHECK_MESSAGE(no_dir.err.find("does not exist") != std::string::npos, no_dir.err);
    auto frontier = testing::run_lth(bench_args + " --out " + testing::quote(tmp.file("frontier.json")));
    INFO(frontier.err);
    REQUIRE(frontier.exit_code == 0);
    const auto f = nlohmann::json::parse(frontier.out);
    CHECK(lth::read_json_file(tmp.file("frontier.json")) == f);
    REQUIRE(f["rows"].size() == 3);
    const auto& masked_row = f["rows"][2];
    CHECK(masked_row["demux"] == "keys");
    CHECK(masked_row["mask"] == tmp.file("mask.safetensors"));
    CHECK(masked_row["sparsity"].get<double>() == doctest::Approx(qmask.eq(0).sum().item<double>() / 1024.0));
    REQUIRE(masked_row["runs"].size() == 1);
    CHECK(masked_row["runs"][0]["dir"] == masked_run);
    CHECK(masked_row["runs"][0]["warmup_curve"].empty());  // no warm-up
    CHECK(f["rows"][1]["sparsity"].get<double>() == 0.0);
    CHECK(f["rows"][1]["runs"][0]["dir"] == run);
    auto report = testing::run_lth("report " + testing::quote(tmp.file("frontier.json")) + " --format json");
    INFO(report.err);
    REQUIRE(report.exit_code == 0);
    const auto points = nlohmann::json::parse(report.out).at("mux").at("points");
    REQUIRE(points.size() == 3);
    CHECK(points[2]["sparsity"] == masked_row["sparsity"]);
    CHECK(points[2]["value"] == masked_row["runs"][0]["accuracy"]);
    CHECK(points[0]["run"] == "");

    // Token classification through the same CLI: CoNLL-2003-style files (synthetic text), 7 dev
    // sentences (not a multiple of N=2); the task's own entity-level scoring runs multiplexed.
    auto write_conll = [&](const std::string& path, int sentences, int seed) {
      std::ofstream out(path);
      out << "-DOCSTART- -X- -X- O\n\n";
      const std::vector<std::pair<std::string, std::string>> vocab = {
          {"good", "O"}, {"film", "O"}, {"is", "O"}, {"the", "O"}, {"paris", "I-LOC"}, {"john", "I-PER"}};
      std::mt19937 rng(static_cast<unsigned>(seed));
      for (int i = 0; i < sentences; ++i) {
        for (int w = 0; w < 6; ++w) {
          const auto& [word, tag] = vocab[rng() % vocab.size()];
          out << word << " NN I-NP " << tag << "\n";
        }
        out << "\n";
      }
    };
    write_conll(tmp.file("ner-train.txt"), 12, 4);
    write_conll(tmp.file("ner-dev.txt"), 7, 5);
    const std::string ner_run = tmp.file("ner");
    auto ner = testing::run_lth(
        "mux train --model " + model + " --task ner/conll2003 --train " + testing::quote(tmp.file("ner-train.txt")) +
        " --dev " + testing::quote(tmp.file("ner-dev.txt")) + " --n 2 --demux index --index-tokens '[unused_extra{}]'" +
        " --steps 3 --batch-size 4 --max-length 16 --threads 1 --precision fp32 --out " + testing::quote(ner_run));
    INFO(ner.err);
    REQUIRE(ner.exit_code == 0);
    auto ner_trained = nlohmann::json::parse(ner.out);
    CHECK(ner_trained["task"] == "ner/conll2003");
    CHECK(ner_trained["examples"] == 7);
    CHECK(ner_trained["n"] == 2);
    CHECK(ner_trained.contains("f1"));
    auto ner_eval = testing::run_lth("mux eval --model " + testing::quote(ner_run) + " --threads 1 --precision fp32");
    INFO(ner_eval.err);
    REQUIRE(ner_eval.exit_code == 0);
    auto ner_metrics = nlohmann::json::parse(ner_eval.out);
    CHECK(ner_metrics["examples"] == 7);
    CHECK(ner_metrics["tokens"] == 7 * 6);  // every word of every sentence scored exactly once
    CHECK(ner_metrics["f1"] == ner_trained["f1"]);
    CHECK(ner_metrics["accuracy"] == ner_trained["accuracy"]);
    // The accuracy x throughput table reads any task's run (its recorded main metric); --n 2 with the
    // run's own settings is one configuration, timed once.
    auto ner_bench = testing::run_lth("mux bench --model " + model + " --n 2 --demux index --seq-len 16 --rounds 1 --threads 1 --json" +
                                      " --index-tokens '[unused_extra{}]' --runs " + testing::quote(ner_run));
    INFO(ner_bench.err);
    REQUIRE(ner_bench.exit_code == 0);
    const auto ner_rows = nlohmann::json::parse(ner_bench.out)["rows"];
    REQUIRE(ner_rows.size() == 1);
    const auto ner_row = ner_rows[0]["runs"][0];
    CHECK(ner_row["f1"] == ner_trained["f1"]);
    CHECK(ner_row.contains("warmup_retrieval_accuracy"));
    auto squad = testing::run_lth("mux train --model " + model + " --task squad/v1.1 --steps 1 --out " +
                                  testing::quote(tmp.file("squad")));
    CHECK(squad.exit_code == 2);
    CHECK(squad.err.find("ner/conll2003") != std::string::npos);

    auto bad = testing::run_lth("mux bench --model bert-huge --threads 1");
    CHECK(bad.exit_code == 1);
    CHECK(bad.err.find("bert-huge") != std::string::npos);
  }
}
