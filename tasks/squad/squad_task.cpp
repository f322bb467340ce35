// SQuAD v1.1 / v2.0 on top of the reader, official evaluation and span decoding in this folder.
//
// Features follow Hugging Face's run_qa: `[CLS] question [SEP] context [SEP]`, the context cut into
// windows that overlap by --doc-stride tokens (the recipe uses --max-length 384, stride 128).
// A training window's target is the answer's first/last token, or [CLS] (index 0) when the answer
// is not wholly inside the window or the question has none (v2.0). Evaluation decodes every
// question from all its windows (n-best starts/ends, spans of at most max_answer_length tokens)
// and scores the predictions with the official EM/F1.
//
// Files: --train/--dev override; otherwise --data DIR holds train-v1.1.json / dev-v1.1.json
// (train-v2.0.json / dev-v2.0.json). When DIR has no dev file, its dev-vX.part-*.json files
// together are the dev split, and `--split part-b` names one of them. --data may also name one
// JSON file, which is then the evaluation split.
#include <algorithm>
#include <filesystem>
#include <numeric>
#include <random>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "tasks/squad/decode.h"
#include "tasks/squad/evaluate.h"
#include "tasks/squad/squad.h"
#include "tasks/task.h"

namespace lth::tasks {
namespace fs = std::filesystem;
namespace {

// One doc-stride window of one question.
struct Window {
  train::Feature feature;
  std::size_t question = 0;  // index into the flattened question list
  // Per token: byte range in the context, or squad::kNotContext.
  std::vector<std::pair<std::int64_t, std::int64_t>> offsets;
};

struct QuestionRef {
  const squad::Paragraph* paragraph = nullptr;
  const squad::Question* question = nullptr;
};

std::vector<QuestionRef> flatten(const squad::Dataset& ds) {
  std::vector<QuestionRef> out;
  for (const auto& a : ds.articles)
    for (const auto& p : a.paragraphs)
      for (const auto& q : p.qas) out.push_back({&p, &q});
  return out;
}

// A split loaded for evaluation, kept between evaluations during training.
struct EvalSplit {
  squad::Dataset dataset;
  std::vector<QuestionRef> questions;
  std::vector<Window> windows;
};

class SquadTask : public Task {
 public:
  SquadTask(squad::Version version, TaskOptions options, std::shared_ptr<const tokenize::Tokenizer> tok)
      : version_(version), options_(std::move(options)), tok_(std::move(tok)) {
    LTH_CHECK(tok_->cls_id() >= 0 && tok_->sep_id() >= 0, ConfigError,
              "the tokenizer has no [CLS]/[SEP] token, needed for question answering");
    LTH_CHECK(options_.max_length >= 8, UsageError, "--max-length {} is too short for question answering",
              options_.max_length);
    LTH_CHECK(options_.doc_stride >= 0 && options_.max_query_length > 0 && options_.n_best_size > 0 &&
                  options_.max_answer_length > 0,
              UsageError, "doc_stride must be >= 0 and max_query_length, n_best_size, max_answer_length positive");
  }

  std::string name() const override { return version_ == squad::Version::kV2_0 ? "squad/v2.0" : "squad/v1.1"; }
  model::HeadKind head() const override { return model::HeadKind::kQuestionAnswering; }
  train::LabelKind label_kind() const override { return train::LabelKind::kSpan; }
  std::string main_metric() const override { return "f1"; }

  std::vector<train::Feature> train_features(uint64_t seed) override {
    const squad::Dataset ds = read("train");
    auto questions = flatten(ds);
    std::vector<std::size_t> order(questions.size());
    std::iota(order.begin(), order.end(), 0);
    if (options_.max_train_examples > 0 && static_cast<int64_t>(order.size()) > options_.max_train_examples) {
      std::mt19937_64 rng(seed);
      std::shuffle(order.begin(), order.end(), rng);
      order.resize(static_cast<std::size_t>(options_.max_train_examples));
      std::sort(order.begin(), order.end());  // keeps a paragraph's questions together (tokenised once)
    }
    std::vector<train::Feature> out;
    int64_t skipped = 0, outside = 0;
    const squad::Paragraph* last = nullptr;
    std::vector<tokenize::Piece> context;
    for (std::size_t i : order) {
      const auto& ref = questions[i];
      if (ref.paragraph != last) {
        context = tok_->tokenize_with_offsets(ref.paragraph->context);
        last = ref.paragraph;
      }
      const squad::Answer* answer = ref.question->answers.empty() ? nullptr : &ref.question->answers.front();
      if (answer != nullptr && answer->byte_start < 0) {
        ++skipped;  // the answer text is not at answer_start: no target to learn
        continue;
      }
      for (auto& w : windows(*ref.question, context, i)) {
        label(w, answer);
        if (answer != nullptr && w.feature.start == 0) ++outside;
        out.push_back(std::move(w.feature));
      }
    }
    if (skipped > 0) log::warn("squad", "{} training questions skipped: answer text not found at answer_start", skipped);
    log::info("squad", "{} training questions -> {} windows ({} answerable windows without the answer -> [CLS])",
              order.size() - static_cast<std::size_t>(skipped), out.size(), outside);
    return out;
  }

  nlohmann::json evaluate(model::Bert& model, const std::string& split, const std::string& predictions_path,
                          const train::EvalContext& context) override {
    EvalSplit& data = eval_split(split);
    std::vector<squad::FeatureLogits> logits(data.windows.size());
    std::vector<train::Feature> features;
    features.reserve(data.windows.size());
    for (const auto& w : data.windows) features.push_back(w.feature);
    predict(model, context, features, train::LabelKind::kNone, tok_->pad_id(), options_.eval_batch_size,
            [&](const train::Batch& batch, const model::BertOutputs& out) {
              const auto start = out.start_logits.to(torch::kCPU, torch::kFloat32).contiguous();
              const auto end = out.end_logits.to(torch::kCPU, torch::kFloat32).contiguous();
              const int64_t cols = start.size(1);
              for (std::size_t r = 0; r < batch.indices.size(); ++r) {
                const auto i = static_cast<std::size_t>(batch.indices[r]);
                const auto n = static_cast<int64_t>(features[i].input_ids.size());
                const float* s = start.data_ptr<float>() + static_cast<int64_t>(r) * cols;
                const float* e = end.data_ptr<float>() + static_cast<int64_t>(r) * cols;
                logits[i].start_logits.assign(s, s + n);
                logits[i].end_logits.assign(e, e + n);
                logits[i].offsets = data.windows[i].offsets;
              }
            });
    squad::DecodeOptions dec;
    dec.n_best_size = static_cast<int>(options_.n_best_size);
    dec.max_answer_length = static_cast<int>(options_.max_answer_length);
    dec.version_2_with_negative = version_ == squad::Version::kV2_0;
    squad::Predictions predictions;
    std::size_t w = 0;
    std::vector<squad::FeatureLogits> mine;
    for (std::size_t q = 0; q < data.questions.size(); ++q) {
      mine.clear();
      for (; w < data.windows.size() && data.windows[w].question == q; ++w) mine.push_back(std::move(logits[w]));
      predictions[data.questions[q].question->id] =
          squad::decode_answer(data.questions[q].paragraph->context, mine, dec).text;
    }
    const auto result = squad::evaluate(data.dataset, predictions, version_);
    nlohmann::json j = {{"task", name()}, {"split", split}, {"examples", data.questions.size()},
                        {"features", data.windows.size()}};
    for (const auto& [k, v] : result.to_metrics(version_)) j[k] = v;
    if (!predictions_path.empty()) squad::write_predictions(predictions_path, predictions);
    return j;
  }

 private:
  std::string version_tag() const { return version_ == squad::Version::kV2_0 ? "v2.0" : "v1.1"; }

  squad::Dataset read(const std::string& split) const {
    if (split == "train" && !options_.train_file.empty()) return squad::read_dataset(options_.train_file);
    if (split == default_eval_split() && !options_.dev_file.empty()) return squad::read_dataset(options_.dev_file);
    LTH_CHECK(!options_.data.empty(), UsageError, "{} needs --data DIR or the file itself (--{} FILE)", name(),
              split == "train" ? "train" : "dev");
    std::error_code ec;
    if (fs::is_regular_file(options_.data, ec)) {
      LTH_CHECK(split != "train", UsageError,
                "--data {} is one file, used for evaluation; give the training file with --train FILE", options_.data);
      return squad::read_dataset(options_.data);
    }
    LTH_CHECK(fs::is_directory(options_.data, ec), IoError, "{}: no such file or directory", options_.data);
    const std::string dir = options_.data;
    const std::vector<std::string> candidates = {split + "-" + version_tag() + ".json", split + ".json",
                                                 "dev-" + version_tag() + "." + split + ".json", split};
    for (const auto& c : candidates) {
      if (fs::is_regular_file(dir + "/" + c, ec)) return squad::read_dataset(dir + "/" + c);
    }
    // A dev set stored in parts: dev-v1.1.part-a.json, dev-v1.1.part-b.json, ...
    std::vector<std::string> parts;
    const std::string prefix = split + "-" + version_tag() + ".part-";
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string f = e.path().filename().string();
      if (e.is_regular_file() && f.rfind(prefix, 0) == 0 && e.path().extension() == ".json") parts.push_back(e.path().string());
    }
    LTH_CHECK(!parts.empty(), IoError, "{}: no {} split for {} (looked for {} and {}*.json)", dir, split, name(),
              fmt::join(candidates, ", "), prefix);
    std::sort(parts.begin(), parts.end());
    squad::Dataset ds = squad::read_dataset(parts.front());
    for (std::size_t i = 1; i < parts.size(); ++i) ds.append(squad::read_dataset(parts[i]));
    log::info("squad", "{} split = {} parts of {} ({} questions)", split, parts.size(), dir, ds.num_questions());
    return ds;
  }

  EvalSplit& eval_split(const std::string& split) {
    auto it = eval_cache_.find(split);
    if (it != eval_cache_.end()) return *it->second;
    auto data = std::make_unique<EvalSplit>();
    data->dataset = read(split);
    data->questions = flatten(data->dataset);
    const squad::Paragraph* last = nullptr;
    std::vector<tokenize::Piece> context;
    for (std::size_t i = 0; i < data->questions.size(); ++i) {
      const auto& ref = data->questions[i];
      if (ref.paragraph != last) {
        context = tok_->tokenize_with_offsets(ref.paragraph->context);
        last = ref.paragraph;
      }
      for (auto& w : windows(*ref.question, context, i)) data->windows.push_back(std::move(w));
    }
    log::info("squad", "{} {}: {} questions -> {} windows", name(), split, data->questions.size(), data->windows.size());
    return *eval_cache_.emplace(split, std::move(data)).first->second;
  }

  // The windows of one question over its tokenised context. The question is cut to
  // max_query_length tokens and to half the sequence, so a window always has room for context;
  // when the stride does not fit the window (short --max-length) the overlap is half a window.
  std::vector<Window> windows(const squad::Question& q, const std::vector<tokenize::Piece>& context,
                              std::size_t question_index) {
    auto question = tok_->tokenize_with_offsets(q.question);
    const auto query_cap = static_cast<std::size_t>(std::min(options_.max_query_length, (options_.max_length - 3) / 2));
    if (question.size() > query_cap) question.resize(query_cap);
    const auto room = static_cast<std::size_t>(options_.max_length) - question.size() - 3;
    auto overlap = static_cast<std::size_t>(options_.doc_stride);
    if (overlap >= room) {
      overlap = room / 2;
      if (!warned_stride_) {
        log::warn("squad", "doc stride {} does not fit windows of {} context tokens: overlapping by {}",
                  options_.doc_stride, room, overlap);
        warned_stride_ = true;
      }
    }
    std::vector<Window> out;
    for (std::size_t begin = 0;;) {
      const std::size_t end = std::min(context.size(), begin + room);
      Window w;
      w.question = question_index;
      auto& f = w.feature;
      f.input_ids.push_back(static_cast<int32_t>(tok_->cls_id()));
      for (const auto& p : question) f.input_ids.push_back(static_cast<int32_t>(p.id));
      f.input_ids.push_back(static_cast<int32_t>(tok_->sep_id()));
      f.token_type_ids.assign(f.input_ids.size(), 0);
      w.offsets.assign(f.input_ids.size(), squad::kNotContext);
      for (std::size_t t = begin; t < end; ++t) {
        f.input_ids.push_back(static_cast<int32_t>(context[t].id));
        f.token_type_ids.push_back(1);
        w.offsets.emplace_back(context[t].begin, context[t].end);
      }
      f.input_ids.push_back(static_cast<int32_t>(tok_->sep_id()));
      f.token_type_ids.push_back(1);
      w.offsets.push_back(squad::kNotContext);
      out.push_back(std::move(w));
      if (end >= context.size()) break;
      begin += room - overlap;
    }
    return out;
  }

  // Sets start/end to the answer's first and last token in the window, or 0 ([CLS]) when the
  // answer is not wholly inside it (as run_qa does).
  static void label(Window& w, const squad::Answer* answer) {
    w.feature.start = w.feature.end = 0;
    if (answer == nullptr) return;
    const std::int64_t first_byte = answer->byte_start;
    const std::int64_t last_byte = answer->byte_start + static_cast<std::int64_t>(answer->text.size());
    int first = -1, last = -1;
    for (std::size_t t = 0; t < w.offsets.size(); ++t) {
      if (w.offsets[t] == squad::kNotContext) continue;
      if (first < 0) first = static_cast<int>(t);
      last = static_cast<int>(t);
    }
    if (first < 0 || w.offsets[first].first > first_byte || w.offsets[last].second < last_byte) return;
    int start = first, end = last;
    while (start + 1 <= last && w.offsets[start + 1].first <= first_byte) ++start;
    while (end - 1 >= first && w.offsets[end - 1].second >= last_byte) --end;
    if (end < start) end = start;
    w.feature.start = start;
    w.feature.end = end;
  }

  squad::Version version_;
  TaskOptions options_;
  std::shared_ptr<const tokenize::Tokenizer> tok_;
  std::map<std::string, std::unique_ptr<EvalSplit>> eval_cache_;
  bool warned_stride_ = false;
};

}  // namespace

std::unique_ptr<Task> make_squad_task(const std::string& name, const TaskOptions& options,
                                      std::shared_ptr<const tokenize::Tokenizer> tokenizer) {
  const auto version = name == "squad/v2.0" ? squad::Version::kV2_0 : squad::Version::kV1_1;
  return std::make_unique<SquadTask>(version, options, std::move(tokenizer));
}

}  // namespace lth::tasks
