// Masks: the prunable set on the fixture, globs, fingerprints, mask files (U8 on disk, metadata,
// refused content), Mask::check_fits and applying a mask to a model.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/load.h"
#include "prune/mask.h"
#include "prune/strategy.h"
#include "tests/prune/prune_testing.h"
#include "tests/testing.h"

using lth::testing::error_of;

namespace fs = std::filesystem;
namespace lt = lth::testing;

namespace {

struct Header {
  std::vector<std::string> names;
  std::vector<int64_t> dims;
};

// Parameter names and ranks of the fixture checkpoint, from its safetensors header.
Header fixture_header() {
  lth::io::SafetensorsFile f(lt::shared_dir() + "/fixtures/hf-bert/model/model.safetensors");
  Header h;
  for (const auto& e : f.entries()) {
    h.names.push_back(e.name);
    h.dims.push_back(static_cast<int64_t>(e.shape.size()));
  }
  return h;
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

}  // namespace

TEST_SUITE("prune") {
  TEST_CASE("prunable_names: the default set on the fixture is Q, K, V, attn-out, intermediate, output x 2 + pooler") {
    const auto h = fixture_header();
    const auto names = lth::prune::prunable_names(h.names, h.dims);
    std::vector<std::string> want = {"bert.pooler.dense.weight"};
    for (int layer = 0; layer < 2; ++layer) {
      const std::string p = "bert.encoder.layer." + std::to_string(layer) + ".";
      for (const char* s : {"attention.output.dense.weight", "attention.self.key.weight", "attention.self.query.weight",
                            "attention.self.value.weight", "intermediate.dense.weight", "output.dense.weight"})
        want.push_back(p + s);
    }
    std::sort(want.begin(), want.end());
    CHECK(names.size() == 13);
    CHECK(names == want);
    for (const auto& n : h.names) {
      CAPTURE(n);
      if (contains(n, "embeddings") || contains(n, "LayerNorm") || contains(n, ".bias") || contains(n, "classifier"))
        CHECK_FALSE(lth::prune::is_default_prunable(n));
    }
  }

  TEST_CASE("prunable_names: --prune and --exclude globs ('*' crosses dots, only 2-D weights)") {
    const auto h = fixture_header();
    auto attention = lth::prune::prunable_names(h.names, h.dims, {"*.attention.self.*"});
    CHECK(attention.size() == 6);  // Q, K, V weights of 2 layers; their biases are 1-D
    for (const auto& n : attention) CHECK(contains(n, ".weight"));
    auto no_layer1 = lth::prune::prunable_names(h.names, h.dims, {}, {"*.layer.1.*"});
    CHECK(no_layer1.size() == 7);
    for (const auto& n : no_layer1) CHECK_FALSE(contains(n, "layer.1"));
    auto pooler_only = lth::prune::prunable_names(h.names, h.dims, {}, {"*.layer.*"});
    CHECK(pooler_only == std::vector<std::string>{"bert.pooler.dense.weight"});
    CHECK_THROWS_AS(lth::prune::prunable_names(h.names, h.dims, {}, {"*.layer.*", "*pooler*"}), lth::UsageError);
  }

  TEST_CASE("prunable_names: explicit globs reach embeddings and heads; an empty set is a usage error") {
    const auto h = fixture_header();
    auto emb = lth::prune::prunable_names(h.names, h.dims, {"*embeddings*"});
    CHECK(emb == std::vector<std::string>{"bert.embeddings.position_embeddings.weight",
                                          "bert.embeddings.token_type_embeddings.weight",
                                          "bert.embeddings.word_embeddings.weight"});
    CHECK(lth::prune::prunable_names(h.names, h.dims, {"classifier.*"}) == std::vector<std::string>{"classifier.weight"});
    CHECK_THROWS_AS(lth::prune::prunable_names(h.names, h.dims, {"*"}, {"*"}), lth::UsageError);
    CHECK_THROWS_AS(lth::prune::prunable_names(h.names, h.dims, {"*.bias"}), lth::UsageError);
  }

  TEST_CASE("fingerprint: stable, order-free, changes when one weight changes by one ulp") {
    auto w = lt::random_weights(10);
    const auto names = lt::names_of(w);
    const std::string fp = lth::prune::fingerprint(w, names);
    CHECK(fp.size() == 32);
    std::vector<std::string> reversed(names.rbegin(), names.rend());
    CHECK(lth::prune::fingerprint(w, reversed) == fp);
    auto copy = w;
    for (auto& [n, t] : copy) t = t.clone();
    CHECK(lth::prune::fingerprint(copy, names) == fp);
    auto& t = copy.at("c.output.weight");
    const float v = t[5][7].item<float>();
    t[5][7] = std::nextafter(v, 1e30f);
    CHECK(lth::prune::fingerprint(copy, names) != fp);
    // A tensor outside `names` does not take part.
    auto other = w;
    other.at("d.odd.weight") = other.at("d.odd.weight") + 1.0;
    CHECK(lth::prune::fingerprint(other, {"a.query.weight", "b.intermediate.weight", "c.output.weight"}) ==
          lth::prune::fingerprint(w, {"a.query.weight", "b.intermediate.weight", "c.output.weight"}));
    // The same values under another shape are another model.
    auto reshaped = w;
    reshaped.at("b.intermediate.weight") = reshaped.at("b.intermediate.weight").reshape({32, 64});
    CHECK(lth::prune::fingerprint(reshaped, names) != fp);
    CHECK_THROWS_AS(lth::prune::fingerprint(w, {"nope"}), lth::ShapeError);
  }

  TEST_CASE("Mask stats: totals and per-tensor counts") {
    auto w = lt::random_weights(11);
    auto m = lth::prune::full_mask(w, lt::names_of(w));
    m.tensors.at("d.odd.weight")[0].fill_(false);  // 7 pruned
    m.tensors.at("a.query.weight")[3][4] = false;  // 1 pruned
    CHECK(m.total() == 5141);
    CHECK(m.pruned() == 8);
    CHECK(m.kept() == 5133);
    CHECK(m.sparsity() == doctest::Approx(8.0 / 5141.0));
    const auto s = m.stats();
    CHECK(s["pruned"] == 8);
    CHECK(s["total"] == 5141);
    CHECK(s["per_tensor"]["d.odd.weight"]["pruned"] == 7);
    CHECK(s["per_tensor"]["d.odd.weight"]["total"] == 21);
    CHECK(s["per_tensor"]["a.query.weight"]["pruned"] == 1);
    CHECK(s["per_tensor"]["c.output.weight"]["pruned"] == 0);
  }

  TEST_CASE("save_mask/load_mask round trip: U8 on disk, values and metadata kept") {
    lt::TempDir tmp("prune-mask-io");
    auto w = lt::random_weights(12);
    auto m = lth::prune::prune_to(lth::prune::full_mask(w, lt::names_of(w)), w, 2000, lth::prune::Strategy::kGlobal);
    m.metadata["task"] = "glue/sst2";
    m.metadata["level"] = "3";
    const std::string path = tmp.file("mask.safetensors");
    lth::prune::save_mask(path, m);
    {
      lth::io::SafetensorsFile f(path);
      CHECK(f.entries().size() == 4);
      for (const auto& e : f.entries()) {
        CAPTURE(e.name);
        CHECK(e.dtype == "U8");
        CHECK(e.shape == w.at(e.name).sizes().vec());
        CHECK(f.load(e.name).le(1).all().item<bool>());
      }
      CHECK(f.metadata().at("task") == "glue/sst2");
      CHECK(f.metadata().at("format") == "lth-mask");
    }
    const auto back = lth::prune::load_mask(path);
    CHECK(back.metadata.at("task") == "glue/sst2");
    CHECK(back.metadata.at("level") == "3");
    REQUIRE(back.tensors.size() == m.tensors.size());
    for (const auto& entry : m.tensors) {
      const auto& n = entry.first;  // not a binding: CAPTURE/INFO capture it in a lambda (C++17)
      const auto& t = entry.second;
      CAPTURE(n);
      CHECK(back.tensors.at(n).dtype() == torch::kBool);
      CHECK(back.tensors.at(n).equal(t));
    }
    CHECK(back.pruned() == 2000);
    // BOOL on disk is accepted as well.
    lth::io::save_safetensors(tmp.file("bool.safetensors"), {{"x", torch::tensor({true, false, true})}});
    CHECK(lth::prune::load_mask(tmp.file("bool.safetensors")).pruned() == 1);
  }

  TEST_CASE("load_mask refuses values other than 0/1, wrong dtypes, empty and damaged files, naming the file") {
    lt::TempDir tmp("prune-mask-bad");
    const std::string twos = tmp.file("twos.safetensors");
    lth::io::save_safetensors(twos, {{"ok", torch::ones({2, 2}, torch::kUInt8)},
                                     {"layer.weight", torch::tensor({0, 1, 2, 1}, torch::kUInt8).view({2, 2})}});
    auto msg = error_of<lth::IoError>([&] { lth::prune::load_mask(twos); });
    CHECK_MESSAGE(contains(msg, twos), msg);
    CHECK_MESSAGE(contains(msg, "layer.weight"), msg);

    const std::string floats = tmp.file("floats.safetensors");
    lth::io::save_safetensors(floats, {{"w", torch::ones({3}, torch::kFloat32)}});
    msg = error_of<lth::IoError>([&] { lth::prune::load_mask(floats); });
    CHECK_MESSAGE(contains(msg, floats), msg);
    CHECK_MESSAGE(contains(msg, "F32"), msg);

    const std::string ints = tmp.file("ints.safetensors");
    lth::io::save_safetensors(ints, {{"w", torch::ones({3}, torch::kInt64)}});
    CHECK_THROWS_AS(lth::prune::load_mask(ints), lth::IoError);

    const std::string empty = tmp.file("empty.safetensors");
    lth::io::save_safetensors(empty, {});
    msg = error_of<lth::IoError>([&] { lth::prune::load_mask(empty); });
    CHECK_MESSAGE(contains(msg, empty), msg);

    // A real mask file cut in half, and one with garbage bytes for a header.
    auto w = lt::random_weights(13);
    const std::string good = tmp.file("good.safetensors");
    lth::prune::save_mask(good, lth::prune::full_mask(w, lt::names_of(w)));
    const std::string cut = tmp.file("cut.safetensors");
    fs::copy_file(good, cut);
    fs::resize_file(cut, fs::file_size(good) / 2);
    msg = error_of<lth::IoError>([&] { lth::prune::load_mask(cut); });
    CHECK_MESSAGE(contains(msg, cut), msg);
    const std::string garbage = tmp.file("garbage.safetensors");
    std::ofstream(garbage, std::ios::binary) << "this is not a safetensors file at all, not even close";
    msg = error_of<lth::IoError>([&] { lth::prune::load_mask(garbage); });
    CHECK_MESSAGE(contains(msg, garbage), msg);
    const std::string missing = tmp.file("missing.safetensors");
    msg = error_of<lth::IoError>([&] { lth::prune::load_mask(missing); });
    CHECK_MESSAGE(contains(msg, missing), msg);
  }

  TEST_CASE("Mask::check_fits lists every wrong name and shape in one ShapeError") {
    auto w = lt::random_weights(14);
    auto m = lth::prune::full_mask(w, lt::names_of(w));
    CHECK_NOTHROW(m.check_fits(w, "m.safetensors"));
    CHECK_NOTHROW(m.check_fits(w, "m.safetensors", "some-other-fingerprint"));  // a warning only
    m.tensors.at("a.query.weight") = torch::ones({32, 31}, torch::kBool);
    m.tensors.at("d.odd.weight") = torch::ones({7, 3}, torch::kBool);
    m.tensors["bert.nonexistent.weight"] = torch::ones({2, 2}, torch::kBool);
    const auto msg = error_of<lth::ShapeError>([&] { m.check_fits(w, "m.safetensors"); });
    CHECK_MESSAGE(contains(msg, "m.safetensors"), msg);
    CHECK_MESSAGE(contains(msg, "a.query.weight"), msg);
    CHECK_MESSAGE(contains(msg, "32x31"), msg);
    CHECK_MESSAGE(contains(msg, "d.odd.weight"), msg);
    CHECK_MESSAGE(contains(msg, "bert.nonexistent.weight"), msg);
    CHECK_MESSAGE(!contains(msg, "b.intermediate.weight"), msg);
  }

  TEST_CASE("Mask::check_fits and apply on a model: exact zeros where pruned, the rest untouched") {
    auto model = lth::model::load_pretrained(lt::shared_dir() + "/fixtures/hf-bert/model");
    lth::prune::NamedTensors before;
    for (auto& item : model->named_parameters()) before[item.key()] = item.value().detach().clone();
    lth::prune::Mask m;
    const std::string q = "bert.encoder.layer.0.attention.self.query.weight";
    torch::manual_seed(5);
    m.tensors[q] = torch::rand(before.at(q).sizes()) < 0.5;
    CHECK_NOTHROW(m.check_fits(model, "m.safetensors"));
    m.apply(model);
    const auto after = model->named_parameters();
    const auto w = after[q].detach();
    CHECK(torch::equal(w, before.at(q) * m.tensors.at(q).to(torch::kFloat32)));
    CHECK(w.masked_select(m.tensors.at(q).logical_not()).ne(0).sum().item<int64_t>() == 0);
    CHECK(torch::equal(after["bert.pooler.dense.weight"], before.at("bert.pooler.dense.weight")));

    m.tensors["bert.encoder.layer.99.output.dense.weight"] = torch::ones({2, 2}, torch::kBool);
    const auto msg = error_of<lth::ShapeError>([&] { m.check_fits(model, "m.safetensors"); });
    CHECK_MESSAGE(contains(msg, "m.safetensors: the mask does not fit the model (1 problem(s))"), msg);
    const auto applied = error_of<lth::ShapeError>([&] { m.apply(model); });
    CHECK_MESSAGE(contains(applied, "which the model does not have"), applied);
  }
}
