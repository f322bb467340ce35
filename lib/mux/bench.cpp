#include "mux/bench.h"

#include <algorithm>
#include <chrono>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/log.h"

namespace lth::mux {
namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

}  // namespace

model::BertConfig preset_config(const std::string& name) {
  model::BertConfig c;
  if (name == "bert-base") {
    // the defaults are bert-base-uncased's shape
  } else if (name == "bert-tiny") {
    c.hidden_size = 128;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 2;
    c.intermediate_size = 512;
  } else {
    LTH_FAIL(ConfigError, "unknown model preset '{}' (expected bert-base or bert-tiny, or a checkpoint directory)", name);
  }
  c.set_head(model::HeadKind::kSequenceClassification, 2);
  return c;
}

namespace {

// One configuration timed: its row, its inputs, how to run it, and the seconds per pass of each round.
struct Job {
  BenchRow row;
  at::Tensor ids, mask, types;
  std::function<void()> run;
  std::vector<double> samples;
};

// Row 0 plain, then one per model. Inputs: random ids (no specials needed for timing), full length.
std::vector<Job> make_jobs(const model::BertConfig& bc, const std::vector<MuxBert>& models, const BenchConfig& config,
                           at::Generator& gen) {
  std::vector<Job> jobs;
  auto inputs = [&](Job& j, int64_t rows) {
    j.ids = torch::randint(0, bc.vocab_size, {rows, config.seq_len}, gen, torch::dtype(torch::kLong));
    j.mask = torch::ones({rows, config.seq_len}, torch::kLong);
    j.types = torch::zeros({rows, config.seq_len}, torch::kLong);
  };
  {
    Job j;
    j.row.name = "plain";
    j.row.instances = config.batch;
    inputs(j, config.batch);
    jobs.push_back(std::move(j));
  }
  for (const auto& m : models) {
    Job j;
    j.row.n = m->n();
    j.row.name = fmt::format("N={}", m->n());
    j.row.instances = config.batch * m->n();
    LTH_CHECK(config.seq_len + m->demux->prefix_length() <= bc.max_position_embeddings, UsageError,
              "--seq-len {} + {} prefix positions exceed the model's {} positions", config.seq_len,
              m->demux->prefix_length(), bc.max_position_embeddings);
    inputs(j, j.row.instances);
    jobs.push_back(std::move(j));
  }
  return jobs;
}

// Points each job's `run` at its model and its own inputs (the jobs must not move afterwards).
void bind_runs(std::vector<Job>& jobs, model::Bert& plain, const std::vector<MuxBert>& models) {
  for (size_t k = 0; k < jobs.size(); ++k) {
    Job& j = jobs[k];
    if (k == 0) {
      j.run = [&plain, &j] { plain->forward(j.ids, j.mask, j.types); };
    } else {
      MuxBert m = models[k - 1];
      j.run = [m, &j]() mutable { m->forward(j.ids, j.mask, j.types); };
    }
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Warm-up pass each (allocations, thread pools), and the repeat count that reaches min_seconds.
std::vector<int64_t> repeat_counts(std::vector<Job>& jobs, double min_seconds) {
  std::vector<int64_t> repeats(jobs.size(), 1);
  for (size_t k = 0; k < jobs.size(); ++k) {
    jobs[k].run();
    const auto t0 = std::chrono::steady_clock::now();
    jobs[k].run();
    const double s = seconds_since(t0);
    repeats[k] = std::max<int64_t>(1, static_cast<int64_t>(min_seconds / std::max(s, 1e-6)) + 1);
  }
  return repeats;
}

// `rounds` times, every job in turn: one sample of seconds per pass each.
void time_rounds(std::vector<Job>& jobs, const std::vector<int64_t>& repeats, int64_t rounds) {
  for (int64_t r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < jobs.size(); ++k) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < repeats[k]; ++i) jobs[k].run();
      const double s = seconds_since(t0);
      jobs[k].samples.push_back(s / static_cast<double>(repeats[k]));
    }
    log::debug("mux", "bench round {}/{} done", r + 1, rounds);
  }
}

// Medians, throughput and speedups (over the N=1 row, else plain; and over plain).
std::vector<BenchRow> summarise(std::vector<Job>& jobs) {
  std::vector<BenchRow> rows;
  for (auto& j : jobs) {
    j.row.seconds = median(j.samples);
    j.row.instances_per_s = static_cast<double>(j.row.instances) / j.row.seconds;
    rows.push_back(j.row);
  }
  const auto first_n1 = std::find_if(rows.begin(), rows.end(), [](const BenchRow& r) { return r.n == 1; });
  const double base = (first_n1 != rows.end() ? *first_n1 : rows[0]).instances_per_s;
  for (auto& r : rows) {
    r.speedup = r.instances_per_s / base;
    r.speedup_vs_plain = r.instances_per_s / rows[0].instances_per_s;
  }
  return rows;
}

}  // namespace

std::vector<BenchRow> bench_throughput(model::Bert& plain, std::vector<MuxBert>& models, const BenchConfig& config) {
  torch::NoGradGuard no_grad;
  LTH_CHECK(config.seq_len > 0 && config.batch > 0 && config.rounds > 0, UsageError,
            "--seq-len, --batch and --rounds must be positive");
  plain->eval();
  for (auto& m : models) m->eval();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(config.seed);
  std::vector<Job> jobs = make_jobs(plain->config(), models, config, gen);
  bind_runs(jobs, plain, models);
  const std::vector<int64_t> repeats = repeat_counts(jobs, config.min_seconds);
  time_rounds(jobs, repeats, config.rounds);
  return summarise(jobs);
}

}  // namespace lth::mux
