// The training loop in process on the fixture model: the learning-rate schedule (read back from
// AdamW's decoupled weight decay on a parameter whose gradient is zero) and masks that keep pruned
// weights exactly zero.
#include <doctest/doctest.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <random>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/runtime.h"
#include "io/safetensors.h"
#include "model/load.h"
#include "tests/testing.h"
#include "tests/train/fixtures.h"
#include "train/adamw.h"
#include "train/trainer.h"

namespace lt = lth::testing;
using lth::train::Feature;
using lth::testing::fixture_bert;
using lth::testing::quick_config;
using lth::testing::random_features;


TEST_SUITE("train.loop") {
  TEST_CASE("learning rate: linear warmup from 0, then linear decay to 0") {
    torch::manual_seed(1);
    auto bert = fixture_bert();
    const std::string probe = "bert.embeddings.token_type_embeddings.weight";
    REQUIRE(bert->named_parameters().find(probe) != nullptr);
    // Row 1 (token type 1) never occurs, so its gradient is exactly zero: AdamW only decays it,
    // w <- w * (1 - lr_t * wd), which reveals lr_t at every step.
    std::vector<torch::Tensor> rows{bert->named_parameters()[probe][1].detach().clone()};
    auto cfg = quick_config();
    cfg.length = "10it";
    cfg.warmup = "4it";
    cfg.lr = 0.1;
    cfg.weight_decay = 0.5;
    lth::train::Hooks hooks;
    hooks.after_step = [&](int64_t, lth::model::Bert& m) {
      rows.push_back(m->named_parameters()[probe][1].detach().clone());
    };
    lt::TempDir dir("train-lr");
    const auto result = lth::train::train(bert, random_features(40, 3), lth::train::LabelKind::kClass, 0, cfg, hooks,
                                          dir.path());
    CHECK(result.steps == 10);
    REQUIRE(rows.size() == 11);
    const double lr = 0.1;
    // Step s (0-based) runs at lr * s / 4 during warmup, then lr * (10 - s) / (10 - 4).
    const std::vector<double> expected = {0, lr / 4, lr / 2, 3 * lr / 4, lr, lr * 5 / 6, lr * 4 / 6, lr * 3 / 6,
                                          lr * 2 / 6, lr / 6};
    for (std::size_t s = 0; s < expected.size(); ++s) {
      CAPTURE(s);
      const auto big = rows[s].abs() > 1e-3;
      const auto ratio = rows[s + 1].masked_select(big) / rows[s].masked_select(big);
      const double measured = (1.0 - ratio.to(torch::kDouble).mean().item<double>()) / cfg.weight_decay;
      CHECK(measured == doctest::Approx(expected[s]).epsilon(1e-4).scale(1e-3));
    }
  }

  TEST_CASE("masked weights stay exactly 0 through AdamW with weight decay and a high lr") {
    torch::manual_seed(2);
    auto bert = fixture_bert();
    lth::prune::Mask ticket;
    auto& masks = ticket.tensors;
    auto params = bert->named_parameters();
    for (const char* name : {"bert.encoder.layer.0.attention.self.query.weight",
                             "bert.encoder.layer.1.intermediate.dense.weight", "bert.pooler.dense.weight",
                             "classifier.weight"}) {
      CAPTURE(name);
      REQUIRE(params.find(name) != nullptr);
      masks[name] = torch::rand(params[name].sizes()) < 0.5;
    }
    std::map<std::string, torch::Tensor> before;
    for (const auto& [name, m] : masks) before[name] = params[name].detach().clone();
    auto cfg = quick_config();
    cfg.length = "20it";
    cfg.lr = 0.05;
    cfg.weight_decay = 0.1;
    lth::train::Hooks hooks;
    hooks.masks = &ticket;
    int64_t violations = 0, checks = 0;
    hooks.after_step = [&](int64_t, lth::model::Bert& m) {
      auto p = m->named_parameters();
      for (const auto& [name, mask] : masks) {
        violations += p[name].detach().masked_select(mask.eq(0)).ne(0).sum().item<int64_t>();
        ++checks;
      }
    };
    lt::TempDir dir("train-masks");
    lth::train::train(bert, random_features(48, 4), lth::train::LabelKind::kClass, 0, cfg, hooks, dir.path());
    CHECK(checks == 20 * 4);
    CHECK(violations == 0);
    params = bert->named_parameters();
    for (const auto& entry : masks) {
      const auto& name = entry.first;  // not a binding: CAPTURE/INFO capture it in a lambda (C++17)
      const auto& mask = entry.second;
      CAPTURE(name);
      const auto w = params[name].detach();
      CHECK(w.masked_select(mask.eq(0)).ne(0).sum().item<int64_t>() == 0);
      // The kept weights did train.
      CHECK_FALSE(torch::equal(w.masked_select(mask.eq(1)), before[name].masked_select(mask.eq(1))));
    }
  }
}

TEST_SUITE("train.adamw") {
  TEST_CASE("the fused one-pass update equals torch's op-by-op AdamW") {
    // Sizes around the vector width and the parallel grain, decayed and undecayed, a zero gradient
    // (pure decay) and a non-contiguous parameter that must take the op-by-op path.
    torch::manual_seed(3);
    const std::vector<int64_t> sizes = {1, 7, 16, 33, 1000, (1 << 15) + 5, 70001};
    auto make = [&](bool fused) {
      std::vector<std::pair<std::string, at::Tensor>> params;
      for (size_t i = 0; i < sizes.size(); ++i) {
        params.emplace_back("w" + std::to_string(i), torch::randn({sizes[i]}));
        params.emplace_back("layer.LayerNorm.weight" + std::to_string(i), torch::randn({sizes[i]}));
      }
      params.emplace_back("zero_grad", torch::randn({9}));
      params.emplace_back("strided", torch::randn({6, 4}).t());
      lth::train::AdamWOptions o;
      o.weight_decay = 0.05;
      o.fused = fused;
      return lth::train::AdamW(params, o, lth::train::decays_by_default);
    };
    auto fused = make(true);
    auto reference = make(false);
    auto& pf = fused.parameters();
    auto& pr = reference.parameters();
    std::vector<at::Tensor> initial;
    for (size_t i = 0; i < pf.size(); ++i) {
      pr[i].second.copy_(pf[i].second);
      initial.push_back(pf[i].second.clone());
    }
    for (int step = 0; step < 5; ++step) {
      for (size_t i = 0; i < pf.size(); ++i) {
        auto g = pf[i].first == "zero_grad" ? torch::zeros_like(pf[i].second) : torch::randn_like(pf[i].second);
        pf[i].second.mutable_grad() = g.clone();
        pr[i].second.mutable_grad() = g.clone();
      }
      fused.step(1e-2);
      reference.step(1e-2);
    }
    for (size_t i = 0; i < pf.size(); ++i) {
      CAPTURE(pf[i].first);
      const auto& a = pf[i].second;
      const auto& b = pr[i].second;
      // Float rounding may differ by the order of fused multiply-adds; the update is ~1e-2.
      CHECK((a - b).abs().max().item<double>() <= 1e-6);
      CHECK((a - initial[i]).abs().max().item<double>() > 1e-3);  // both actually took the steps
      CHECK((fused.exp_avg(pf[i].first) - reference.exp_avg(pr[i].first)).abs().max().item<double>() <= 1e-6);
      CHECK((fused.exp_avg_sq(pf[i].first) - reference.exp_avg_sq(pr[i].first)).abs().max().item<double>() <= 1e-6);
    }
    // The zero-gradient parameter only decays: p (1 - lr wd)^5, exactly as the op-by-op path.
    CHECK(torch::equal(pf[pf.size() - 2].second, pr[pr.size() - 2].second));
  }
}

TEST_SUITE("train.adamw") {
  TEST_CASE("five steps equal torch.optim.AdamW (fixture from scripts/gen-adamw-fixture.py), fused and op by op") {
    // Independent truth: Python torch's AdamW on the same parameters and gradients, with a new
    // learning rate every step, weight decay per parameter group, a parameter whose gradient is
    // zero (pure decay), one that never has a gradient and a non-contiguous one.
    const std::string dir = lt::source_dir() + "/tests/fixtures/adamw";
    auto meta = lth::read_json_file(dir + "/adamw.json");
    const lth::io::SafetensorsFile fx(dir + "/adamw.safetensors");
    const auto lrs = meta["lrs"].get<std::vector<double>>();
    const int steps = meta["steps"].get<int>();
    REQUIRE(steps == 5);
    REQUIRE(lrs.size() == 5);
    for (const bool fused : {true, false}) {
      CAPTURE(fused);
      std::vector<std::pair<std::string, at::Tensor>> params;
      std::map<std::string, bool> decays;
      for (const auto& p : meta["parameters"]) {
        const std::string name = p["name"];
        const auto init = fx.load("init." + name);
        at::Tensor t;
        if (p["strided"].get<bool>()) {
          REQUIRE(init.dim() == 2);
          t = torch::empty({init.size(1), init.size(0)}).t();  // same shape, transposed storage
          t.copy_(init);
          REQUIRE_FALSE(t.is_contiguous());
        } else {
          t = init.clone();
        }
        params.emplace_back(name, t);
        decays[name] = p["decays"].get<bool>();
        // lth's own rule agrees with the fixture's grouping (Hugging Face's).
        CHECK(lth::train::decays_by_default(name) == decays[name]);
      }
      lth::train::AdamWOptions o;
      o.beta1 = meta["beta1"];
      o.beta2 = meta["beta2"];
      o.eps = meta["eps"];
      o.weight_decay = meta["weight_decay"];
      o.fused = fused;
      lth::train::AdamW opt(params, o, [&](const std::string& n) { return decays.at(n); });
      double worst = 0;
      for (int step = 1; step <= steps; ++step) {
        CAPTURE(step);
        for (auto& [name, t] : opt.parameters()) {
          const std::string g = "grad." + std::to_string(step) + "." + name;
          if (fx.contains(g)) t.mutable_grad() = fx.load(g);
        }
        opt.step(lrs[static_cast<std::size_t>(step - 1)]);
        for (const auto& entry : opt.parameters()) {
          const auto& name = entry.first;  // not a binding: CAPTURE/INFO capture it in a lambda (C++17)
          const auto& t = entry.second;
          CAPTURE(name);
          const std::string s = std::to_string(step) + "." + name;
          const auto want = fx.load("param." + s);
          // float32 on both sides; lth's fused kernel and torch's lerp differ only in rounding.
          const double err = (t - want).abs().max().item<double>();
          worst = std::max(worst, err);
          CHECK(err <= 1e-6);
          if (fx.contains("exp_avg." + s)) {
            CHECK((opt.exp_avg(name) - fx.load("exp_avg." + s)).abs().max().item<double>() <= 1e-7);
            CHECK((opt.exp_avg_sq(name) - fx.load("exp_avg_sq." + s)).abs().max().item<double>() <= 1e-7);
          } else {
            CHECK(torch::equal(t, fx.load("init." + name)));  // never stepped
          }
        }
        opt.zero_grad();
      }
      MESSAGE("fused=" << fused << ": max |lth - torch| over 5 steps = " << worst);
      // The updates are not vacuous: every stepped parameter moved by more than the tolerance.
      for (const auto& entry : opt.parameters()) {
        const auto& name = entry.first;  // not a binding: CAPTURE/INFO capture it in a lambda (C++17)
        const auto& t = entry.second;
        if (name == "no_grad") continue;
        CAPTURE(name);
        CHECK((t - fx.load("init." + name)).abs().max().item<double>() > 1e-3);
      }
    }
  }
}

TEST_SUITE("runtime.precision") {
  TEST_CASE("auto precision is bf16 exactly on CPUs whose flags list native bf16") {
    // Independent truth: the kernel's view of the CPU flags.
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line, flags;
    while (std::getline(cpuinfo, line))
      if (line.rfind("flags", 0) == 0) {
        flags = line + " ";
        break;
      }
    if (!flags.empty()) {
      const bool listed = flags.find(" avx512_bf16 ") != std::string::npos || flags.find(" amx_bf16 ") != std::string::npos;
      CHECK(lth::cpu_has_bf16() == listed);
    }
    CHECK(lth::resolve_precision("auto", "cpu") == (lth::cpu_has_bf16() ? "bf16" : "fp32"));
    CHECK(lth::resolve_precision("auto", "cuda:0") == "fp32");  // autocast here is CPU-only
    CHECK(lth::resolve_precision("fp32", "cpu") == "fp32");
    CHECK(lth::resolve_precision("bf16", "cpu") == "bf16");
    CHECK_THROWS_AS(lth::resolve_precision("fp16", "cpu"), lth::UsageError);
  }

  TEST_CASE("sparse training of masked weights gives the dense masked path's weights, and only while training") {
    // Masks at 80% sparsity on every encoder Linear of the fixture: `on` runs them through the
    // sparse kernels, `off` through dense products times the mask. Same seed, same batches.
    auto train_with = [](const std::string& mode, int64_t* replaced_steps) {
      torch::manual_seed(3);
      auto bert = fixture_bert();
      lth::prune::Mask ticket;
      torch::manual_seed(4);
      for (const auto& item : bert->named_parameters()) {
        const std::string& name = item.key();
        if (name.rfind("bert.encoder.", 0) == 0 && item.value().dim() == 2) {
          ticket.tensors[name] = torch::rand(item.value().sizes()) < 0.2;
        }
      }
      auto cfg = quick_config();
      cfg.length = "12it";
      cfg.lr = 0.01;
      cfg.weight_decay = 0.01;
      cfg.precision = "fp32";
      cfg.sparse_training = mode;
      lth::train::Hooks hooks;
      hooks.masks = &ticket;
      hooks.after_step = [&](int64_t, lth::model::Bert& m) {
        auto layer = std::dynamic_pointer_cast<lth::model::BertLayerImpl>(m->bert->layers[0]);
        const auto& r = layer->intermediate->dense_replacement;
        if (r && r->trains()) ++*replaced_steps;
      };
      lt::TempDir dir("train-sparse-" + mode);
      lth::train::train(bert, random_features(48, 5), lth::train::LabelKind::kClass, 0, cfg, hooks, dir.path());
      auto layer = std::dynamic_pointer_cast<lth::model::BertLayerImpl>(bert->bert->layers[0]);
      CHECK_FALSE(layer->intermediate->dense_replacement);  // removed when the training ended
      return std::make_pair(bert, ticket);
    };
    int64_t sparse_steps = 0, dense_steps = 0;
    const auto sparse_run = train_with("on", &sparse_steps);
    const auto dense_run = train_with("off", &dense_steps);
    auto sparse = sparse_run.first;
    auto dense = dense_run.first;
    const lth::prune::Mask& ticket = sparse_run.second;
    CHECK(sparse_steps == 12);
    CHECK(dense_steps == 0);
    // Compared against how far each parameter moved. The key biases are left out: softmax ignores
    // them, so their exact gradient is 0 and both runs only feed rounding noise to AdamW, whose
    // division by sqrt(v) turns any noise into steps of ~lr.
    auto ps = sparse->named_parameters();
    auto pd = dense->named_parameters();
    auto p0 = fixture_bert()->named_parameters();
    for (const auto& item : pd) {
      const std::string name = item.key();
      if (name.size() >= 13 && name.compare(name.size() - 13, 13, "self.key.bias") == 0) continue;
      CAPTURE(name);
      const auto a = ps[name].detach(), b = item.value().detach();
      const double moved = (b - p0[name].detach()).abs().max().item<double>();
      CHECK((a - b).abs().max().item<double>() <= 0.01 * moved + 1e-6);
    }
    for (const auto& entry : ticket.tensors) {
      const auto& name = entry.first;
      CAPTURE(name);
      CHECK(ps[name].detach().masked_select(entry.second.eq(0)).ne(0).sum().item<int64_t>() == 0);
    }
  }
}
