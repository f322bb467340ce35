// Packed sparse inference: a packed model computes what the dense masked model computes, on every
// kernel path; the sparse checkpoint directory round-trips; damaged packed files fail clearly.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/file.h"
#include "io/safetensors.h"
#include "model/load.h"
#include "model/sparse.h"
#include "model/sparse_bench.h"
#include "ops/isa.h"
#include "tests/tensor_testing.h"
#include "tests/testing.h"

namespace {

using lth::ops::SparseIsa;
namespace lt = lth::testing;

std::string fixture_model() { return lt::shared_dir() + "/fixtures/hf-bert/model"; }

// Zeroes the 90% smallest |w| of every encoder Linear weight (pruning within each matrix) and returns
// the 0/1 mask by parameter name.
std::map<std::string, at::Tensor> prune_90(lth::model::Bert& bert) {
  torch::NoGradGuard no_grad;
  std::map<std::string, at::Tensor> mask;
  for (auto& item : bert->named_parameters()) {
    const std::string& n = item.key();
    if (n.rfind("bert.encoder.", 0) != 0 || item.value().dim() != 2) continue;
    const at::Tensor a = item.value().abs().flatten();
    const int64_t k = static_cast<int64_t>(0.9 * static_cast<double>(a.numel()));
    const double threshold = std::get<0>(a.kthvalue(k)).item<double>();
    const at::Tensor keep = item.value().abs() > threshold;
    item.value().mul_(keep.to(torch::kFloat32));
    mask[n] = keep;
  }
  return mask;
}

struct Inputs {
  at::Tensor ids, attention, types;
};

Inputs inputs_for(const lth::model::BertConfig& c) {
  torch::manual_seed(7);
  Inputs in;
  in.ids = torch::randint(1, c.vocab_size, {3, 40}, torch::kLong);
  in.attention = torch::ones({3, 40}, torch::kLong);
  in.attention.index_put_({1, torch::indexing::Slice(25, torch::indexing::None)}, 0);  // padding
  in.types = torch::zeros({3, 40}, torch::kLong);
  return in;
}

lth::model::BertOutputs run(lth::model::Bert& bert, const Inputs& in) {
  torch::NoGradGuard no_grad;
  lth::model::ForwardOptions o;
  o.hidden_states = true;
  return bert->forward(in.ids, in.attention, in.types, o);
}

void expect_same_outputs(const lth::model::BertOutputs& got, const lth::model::BertOutputs& want, const std::string& what) {
  EXPECT_CLOSE(got.last_hidden_state, want.last_hidden_state, 1e-5, 1e-4, what + " last_hidden_state");
  EXPECT_CLOSE(got.logits, want.logits, 1e-5, 1e-4, what + " logits");
  REQUIRE(got.hidden_states.size() == want.hidden_states.size());
  for (size_t k = 0; k < got.hidden_states.size(); ++k) {
    EXPECT_CLOSE(got.hidden_states[k], want.hidden_states[k], 1e-5, 1e-4, what + " hidden_states." + std::to_string(k));
  }
}

bool max_diff_above(const at::Tensor& a, const at::Tensor& b, double eps) { return (a - b).abs().max().item<double>() > eps; }

// Options that run every Linear sparse on each kernel path this CPU has.
std::vector<lth::model::SparseOptions> every_path() {
  std::vector<lth::model::SparseOptions> out;
  for (SparseIsa isa : {SparseIsa::kReference, SparseIsa::kPortable, SparseIsa::kAvx2, SparseIsa::kAvx512}) {
    if (!lth::ops::isa_supported(isa)) continue;
    lth::model::SparseOptions options;
    options.isa = isa;
    options.respect_crossover = false;
    out.push_back(options);
  }
  return out;
}

lth::model::Bert masked_fixture() {
  auto bert = lth::model::load_pretrained(fixture_model());
  bert->eval();
  prune_90(bert);
  return bert;
}

}  // namespace

TEST_SUITE("model") {
  TEST_CASE("a packed model's forward equals the dense masked model's on every kernel path") {
    auto bert = masked_fixture();
    const Inputs in = inputs_for(bert->config());
    const auto dense = run(bert, in);
    const auto packed = lth::model::pack_linear_weights(bert, /*all=*/true);
    for (const lth::model::SparseOptions& options : every_path()) {
      const SparseIsa isa = *options.isa;
      CAPTURE(lth::ops::isa_name(isa));
      const auto use = lth::model::use_packed_weights(bert, packed, options);
      CHECK(use.sparse == bert->config().num_hidden_layers * 6);
      CHECK(use.dense == 0);
      expect_same_outputs(run(bert, in), dense, lth::ops::isa_name(isa));
    }
    lth::model::clear_packed_weights(bert);
  }

  TEST_CASE("the layers really run the packed weights, only in inference, and never stale ones") {
    auto bert = masked_fixture();
    const Inputs in = inputs_for(bert->config());
    const auto dense = run(bert, in);
    // Packed weights that differ from the model's (value weights doubled): outputs must change.
    auto packed = lth::model::pack_linear_weights(bert, true);
    const std::string v = "bert.encoder.layer.1.attention.self.value.weight";
    {
      torch::NoGradGuard no_grad;
      packed[v] = lth::ops::pack(bert->named_parameters()[v].detach() * 2.0);
    }
    lth::model::SparseOptions options;
    options.respect_crossover = false;
    lth::model::use_packed_weights(bert, packed, options);
    CHECK(max_diff_above(run(bert, in).last_hidden_state, dense.last_hidden_state, 1e-3));
    // Autograd on (or training mode): the dense Linear runs.
    EXPECT_CLOSE(bert->forward(in.ids, in.attention, in.types).last_hidden_state.detach(), dense.last_hidden_state,
                 1e-6, 1e-6, "autograd on");
    // A weight changed in place after packing (e.g. training): its layer declines and runs dense.
    {
      torch::NoGradGuard no_grad;
      bert->named_parameters()[v].mul_(1.0);
    }
    EXPECT_CLOSE(run(bert, in).last_hidden_state, dense.last_hidden_state, 1e-5, 1e-4, "stale packed weights");
    lth::model::clear_packed_weights(bert);
  }

  TEST_CASE("sparse training: loss and every gradient of the whole BERT equal the dense masked model's") {
    auto bert = masked_fixture();
    bert->train();  // dropout: the fixture's probabilities are 0.1; ops::dropout is seeded, so both runs match
    torch::manual_seed(11);
    std::map<std::string, at::Tensor> masks;
    {
      torch::NoGradGuard no_grad;
      for (auto& item : bert->named_parameters()) {
        if (item.key().rfind("bert.encoder.", 0) == 0 && item.value().dim() == 2) masks[item.key()] = item.value().ne(0);
      }
    }
    const Inputs in = inputs_for(bert->config());
    auto loss_and_grads = [&](const std::string& what) {
      bert->zero_grad();
      torch::manual_seed(12);
      const auto out = bert->forward(in.ids, in.attention, in.types);
      const at::Tensor loss = out.logits.pow(2).sum() + out.last_hidden_state.sum();
      loss.backward();
      std::map<std::string, at::Tensor> grads;
      for (auto& item : bert->named_parameters()) {
        INFO(what, " ", item.key());
        REQUIRE(item.value().grad().defined());
        grads[item.key()] = item.value().grad().clone();
      }
      return std::make_pair(loss.item<double>(), grads);
    };
    const auto dense = loss_and_grads("dense");
    for (const lth::model::SparseOptions& options : every_path()) {
      const SparseIsa isa = *options.isa;
      CAPTURE(lth::ops::isa_name(isa));
      const auto use = lth::model::use_sparse_training(bert, masks, options);
      CHECK(use.sparse == bert->config().num_hidden_layers * 6);
      const auto sparse = loss_and_grads(lth::ops::isa_name(isa));
      CHECK(sparse.first == doctest::Approx(dense.first).epsilon(1e-5));
      for (const auto& entry : dense.second) {
        // The dense path's weight gradient is masked afterwards (by the trainer); compare it masked.
        const std::string& name = entry.first;
        const auto m = masks.find(name);
        const at::Tensor want = m == masks.end() ? entry.second : entry.second * m->second.to(torch::kFloat32);
        EXPECT_CLOSE(sparse.second.at(name), want, 1e-5, 1e-4, std::string(lth::ops::isa_name(isa)) + " grad " + name);
      }
      for (const auto& entry : masks) {
        CHECK(sparse.second.at(entry.first).masked_select(entry.second.logical_not()).ne(0).sum().item<int64_t>() == 0);
      }
    }
    lth::model::clear_packed_weights(bert);
    // A mask that does not fit its weight is refused before anything is installed.
    masks.begin()->second = torch::ones({3, 3});
    CHECK_THROWS_AS(lth::model::use_sparse_training(bert, masks), lth::ShapeError);
  }

  TEST_CASE("lth bench --train: dense and sparse training variants, and the model left as it was") {
    auto bert = masked_fixture();
    std::map<std::string, at::Tensor> masks;
    std::map<std::string, at::Tensor> before;
    for (auto& item : bert->named_parameters()) {
      before[item.key()] = item.value().detach().clone();
      if (item.key().rfind("bert.encoder.", 0) == 0 && item.value().dim() == 2) masks[item.key()] = item.value().ne(0);
    }
    lth::model::SparseBenchConfig cfg;
    cfg.train = true;
    cfg.batch = 2;
    cfg.seq_len = 16;
    cfg.warmup = 0;
    cfg.reps = 1;
    cfg.pack_all = true;
    const auto result = lth::model::bench_sparse(bert, "fixture", {{0.9, masks}}, cfg);
    CHECK(result["mode"] == "train");
    REQUIRE(result["rows"].size() == 2);
    REQUIRE(result["linear_rows"].size() == 2);
    CHECK(result["rows"][0]["kernel"] == "dense");
    CHECK(result["rows"][0]["speedup"].get<double>() == doctest::Approx(1.0));
    CHECK(result["rows"][1]["kernel"] == "sparse");
    CHECK(result["rows"][1]["sparse_matrices"].get<int64_t>() == bert->config().num_hidden_layers * 6);
    CHECK(result["rows"][1]["ms_per_batch"].get<double>() > 0.0);
    CHECK(lth::model::render_sparse_bench(result, false).find("forward + backward") != std::string::npos);
    // No optimizer ran: the weights are unchanged, and no replacement stays installed.
    for (auto& item : bert->named_parameters()) CHECK(torch::equal(item.value().detach(), before[item.key()]));
    auto layer = std::dynamic_pointer_cast<lth::model::BertLayerImpl>(bert->bert->layers[0]);
    CHECK_FALSE(layer->intermediate->dense_replacement);
  }

  TEST_CASE("sparse export round trip: lth's loader reads it back and runs it packed") {
    lt::TempDir tmp("sparse_export");
    auto bert = masked_fixture();
    const Inputs in = inputs_for(bert->config());
    const auto dense = run(bert, in);
    const std::string dir = tmp.file("sparse");
    const auto report = lth::model::export_sparse(bert, dir, fixture_model(), /*all=*/true);
    CHECK(report.packed == bert->config().num_hidden_layers * 6);
    CHECK(report.model_file_bytes + report.sparse_file_bytes < report.dense_bytes);
    CHECK(lth::path_exists(dir + "/vocab.txt"));
    const lth::io::SafetensorsFile model_file(dir + "/model.safetensors");
    CHECK_FALSE(model_file.contains("bert.encoder.layer.0.attention.self.query.weight"));
    CHECK(model_file.contains("bert.encoder.layer.0.attention.self.query.bias"));
    const lth::io::SafetensorsFile sparse_file(dir + "/sparse.safetensors");
    CHECK(sparse_file.entry("bert.encoder.layer.0.attention.self.query.weight.row_ptr").dtype == "I32");
    CHECK(sparse_file.metadata().at("format") == "lth-sparse-csr");

    auto loaded = lth::model::load_pretrained(dir);
    loaded->eval();
    // The dense parameters are the masked ones bit for bit.
    auto want = bert->named_parameters();
    for (auto& item : loaded->named_parameters()) {
      CAPTURE(item.key());
      CHECK(torch::equal(item.value(), want[item.key()]));
    }
    expect_same_outputs(run(loaded, in), dense, "loaded");
    // Packed weights really in use: on this CPU's path the tiny fixture is below the crossover unless
    // the path is the portable one, whose crossover is lower than 10% density.
    if (lth::ops::selected_isa() != SparseIsa::kPortable) {
      CHECK(loaded->bert->layers[0]->as<lth::model::BertLayer>()->attention->self->qkv_replacement != nullptr);
    }
  }

  TEST_CASE("a damaged sparse.safetensors is a clear IoError, and lth exits 1") {
    lt::TempDir tmp("sparse_damaged");
    auto bert = masked_fixture();
    const std::string dir = tmp.file("sparse");
    lth::model::export_sparse(bert, dir, fixture_model(), true);
    // Rewrite with one row_ptr decreasing.
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    {
      const lth::io::SafetensorsFile f(dir + "/sparse.safetensors");
      tensors = f.load_all();
    }
    const std::string bad = "bert.encoder.layer.1.intermediate.dense.weight.row_ptr";
    for (auto& [name, t] : tensors) {
      if (name == bad) t.index_put_({3}, t[4].item<int32_t>() + 5);
    }
    lth::io::save_safetensors(dir + "/sparse.safetensors", tensors);
    try {
      lth::model::load_pretrained(dir);
      FAIL("damaged file loaded");
    } catch (const lth::IoError& e) {
      const std::string msg = e.what();
      CHECK(msg.find("sparse.safetensors") != std::string::npos);
      CHECK(msg.find("bert.encoder.layer.1.intermediate.dense.weight") != std::string::npos);
      CHECK(msg.find("row_ptr") != std::string::npos);
    }
    // A missing array of a packed weight is named too.
    std::vector<std::pair<std::string, at::Tensor>> fewer;
    for (auto& [name, t] : tensors) {
      if (name != "bert.encoder.layer.0.output.dense.weight.values") fewer.emplace_back(name, t);
    }
    lth::io::save_safetensors(dir + "/sparse.safetensors", fewer);
    CHECK_THROWS_WITH_AS(lth::model::load_packed_weights(dir + "/sparse.safetensors"),
                         doctest::Contains("bert.encoder.layer.0.output.dense.weight.values"), lth::IoError);
    std::ofstream(tmp.file("in.json")) << R"({"input_ids": [[2, 5, 7, 3]]})";
    const auto r = lt::run_lth("forward --model " + lt::quote(dir) + " --inputs " + lt::quote(tmp.file("in.json")) +
                               " --out " + lt::quote(tmp.file("out.safetensors")));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("sparse.safetensors") != std::string::npos);
  }

  TEST_CASE("lth export --sparse, then lth forward equals forward of the dense masked checkpoint, on every path") {
    lt::TempDir tmp("sparse_cli");
    auto bert = masked_fixture();
    std::vector<std::pair<std::string, at::Tensor>> mask_tensors;
    {
      auto masked = lth::model::load_pretrained(fixture_model());
      auto mask = prune_90(masked);
      for (auto& [n, t] : mask) mask_tensors.emplace_back(n, t.to(torch::kUInt8));
    }
    lth::io::save_safetensors(tmp.file("mask.safetensors"), mask_tensors);
    lth::model::save_pretrained(bert, tmp.file("dense"), fixture_model());
    std::ofstream(tmp.file("in.json")) << R"({"input_ids": [[2, 5, 7, 9, 11, 3], [2, 8, 3, 0, 0, 0]],
      "attention_mask": [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]]})";
    auto forward = [&](const std::string& model, const std::string& out) {
      const auto r = lt::run_lth("forward --threads 1 --model " + lt::quote(model) + " --inputs " +
                                 lt::quote(tmp.file("in.json")) + " --out " + lt::quote(out));
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
      return lth::io::SafetensorsFile(out).load_all();
    };
    const auto want = forward(tmp.file("dense"), tmp.file("dense.safetensors"));
    const auto e = lt::run_lth("export --sparse --pack-all --model " + lt::quote(fixture_model()) + " --mask " +
                               lt::quote(tmp.file("mask.safetensors")) + " --out " + lt::quote(tmp.file("sparse")));
    INFO(e.err);
    REQUIRE(e.exit_code == 0);
    CHECK(e.out.find("packed 12 of") != std::string::npos);
    CHECK(e.out.find("before:") != std::string::npos);
    for (const char* isa : {"portable", "avx2", "avx512"}) {
      if (!lth::ops::isa_supported(lth::ops::parse_isa(isa))) continue;
      CAPTURE(isa);
      setenv("LTH_SPARSE_ISA", isa, 1);
      const auto got = forward(tmp.file("sparse"), tmp.file(std::string("sparse_") + isa + ".safetensors"));
      unsetenv("LTH_SPARSE_ISA");
      REQUIRE(got.size() == want.size());
      for (size_t k = 0; k < got.size(); ++k) {
        CHECK(got[k].first == want[k].first);
        EXPECT_CLOSE(got[k].second, want[k].second, 1e-5, 1e-4, got[k].first);
      }
    }
  }
}
