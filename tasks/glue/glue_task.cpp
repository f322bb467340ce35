// GLUE tasks on top of the readers in glue.h: featurisation, evaluation, predictions.
#include <algorithm>
#include <numeric>
#include <random>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "tasks/common/metrics.h"
#include "tasks/glue/glue.h"
#include "tasks/glue/glue_task.h"
#include "tasks/task.h"

namespace lth::tasks {
namespace glue {

std::string default_split(const TaskSpec& spec) {
  for (const auto& s : spec.splits)
    if (s.name == "dev" || s.name == "dev_matched") return s.name;
  return spec.splits.front().name;
}

std::vector<Example> read_examples(const TaskSpec& spec, const std::string& split, const std::string& data,
                                   const std::string& file) {
  if (!file.empty()) return read_tsv(spec, spec.split(split), file);
  // --data may name the GLUE root or the task's own folder.
  const std::string own = data + "/" + spec.split(split).file;
  if (path_exists(own)) return read_tsv(spec, spec.split(split), own);
  return read_split(spec, split, data);
}

std::vector<train::Feature> featurize(const TaskSpec& spec, const std::vector<Example>& examples,
                                      const tokenize::Tokenizer& tok, int64_t max_length, bool training) {
  std::vector<train::Feature> out;
  out.reserve(examples.size());
  tokenize::EncodeOptions enc;
  enc.max_length = static_cast<int>(max_length);
  for (const auto& e : examples) {
    const auto encoding = tok.encode(e.text_a, e.text_b ? &*e.text_b : nullptr, enc);
    train::Feature f;
    f.input_ids.assign(encoding.input_ids.begin(), encoding.input_ids.end());
    f.token_type_ids.assign(encoding.token_type_ids.begin(), encoding.token_type_ids.end());
    if (spec.is_regression) {
      f.target = static_cast<float>(e.score);
    } else if (e.label_id >= 0) {
      f.labels = {e.label_id};
    } else if (training) {
      LTH_FAIL(IoError, "{}: training example {} (line {}) has no label", spec.name, e.guid, e.line);
    }
    out.push_back(std::move(f));
  }
  return out;
}

nlohmann::json score(const TaskSpec& spec, const std::string& split, const std::vector<Example>& examples,
                     const std::vector<int>& predicted, const std::vector<double>& scores) {
  nlohmann::json j = {{"task", spec.name}, {"split", split}, {"examples", examples.size()}};
  const bool labelled =
      !examples.empty() && (spec.is_regression ? !std::isnan(examples[0].score) : examples[0].label_id >= 0);
  if (!labelled) return j;
  MetricMap m;
  if (spec.is_regression) {
    std::vector<double> gold;
    for (const auto& e : examples) gold.push_back(e.score);
    m = compute_glue_metrics(spec.name, scores, gold);
  } else {
    std::vector<int> gold;
    for (const auto& e : examples) gold.push_back(e.label_id);
    m = compute_glue_metrics(spec.name, predicted, gold);
  }
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

}  // namespace glue

namespace {

class GlueTask : public Task {
 public:
  GlueTask(const glue::TaskSpec& spec, TaskOptions options, std::shared_ptr<const tokenize::Tokenizer> tok)
      : spec_(spec), options_(std::move(options)), tok_(std::move(tok)) {}

  std::string name() const override { return spec_.name; }
  model::HeadKind head() const override { return model::HeadKind::kSequenceClassification; }
  std::vector<std::string> labels() const override {
    return spec_.is_regression ? std::vector<std::string>{"score"} : spec_.labels;
  }
  train::LabelKind label_kind() const override {
    return spec_.is_regression ? train::LabelKind::kRegression : train::LabelKind::kClass;
  }
  std::string main_metric() const override { return spec_.main_metric; }
  std::string default_eval_split() const override { return glue::default_split(spec_); }

  std::vector<train::Feature> train_features(uint64_t seed) override {
    auto examples = read("train", options_.train_file);
    if (options_.max_train_examples > 0 && static_cast<int64_t>(examples.size()) > options_.max_train_examples) {
      std::mt19937_64 rng(seed);
      std::shuffle(examples.begin(), examples.end(), rng);
      examples.resize(static_cast<size_t>(options_.max_train_examples));
    }
    return glue::featurize(spec_, examples, *tok_, options_.max_length, true);
  }

  nlohmann::json evaluate(model::Bert& model, const std::string& split, const std::string& predictions_path,
                          const train::EvalContext& context) override {
    const auto examples = read(split, split == default_eval_split() ? options_.dev_file : "");
    const auto features = glue::featurize(spec_, examples, *tok_, options_.max_length, false);
    std::vector<int> predicted(examples.size(), -1);
    std::vector<double> scores(examples.size(), 0.0);
    predict(model, context, features, train::LabelKind::kNone, tok_->pad_id(), options_.eval_batch_size,
            [&](const train::Batch& batch, const model::BertOutputs& out) {
              auto logits = out.logits.to(torch::kCPU, torch::kFloat32);
              for (size_t r = 0; r < batch.indices.size(); ++r) {
                const auto i = static_cast<size_t>(batch.indices[r]);
                if (spec_.is_regression) {
                  scores[i] = logits[static_cast<int64_t>(r)][0].item<double>();
                } else {
                  predicted[i] = static_cast<int>(logits[static_cast<int64_t>(r)].argmax().item<int64_t>());
                }
              }
            });
    nlohmann::json j = glue::score(spec_, split, examples, predicted, scores);
    if (!predictions_path.empty()) {
      if (spec_.is_regression) {
        glue::write_submission(predictions_path, spec_, examples, scores);
      } else {
        glue::write_submission(predictions_path, spec_, examples, predicted);
      }
    }
    return j;
  }

 private:
  std::vector<glue::Example> read(const std::string& split, const std::string& override_file) const {
    return glue::read_examples(spec_, split, options_.data, override_file);
  }

  glue::TaskSpec spec_;
  TaskOptions options_;
  std::shared_ptr<const tokenize::Tokenizer> tok_;
};

}  // namespace

std::unique_ptr<Task> make_glue_task(const std::string& name, const TaskOptions& options,
                                     std::shared_ptr<const tokenize::Tokenizer> tokenizer) {
  return std::make_unique<GlueTask>(glue::find_task(name), options, std::move(tokenizer));
}

}  // namespace lth::tasks
