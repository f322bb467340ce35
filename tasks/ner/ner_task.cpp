// CoNLL-2003 English NER as token classification, on top of the reader and conlleval in this
// folder. Tags are converted to IOB2; the label set is the training file's ("O" first, then by
// type, B- before I-). Each word is tokenised on its own and only its first sub-token carries a
// label (the others are -100), as Hugging Face's run_ner does. Evaluation predicts a word's tag
// from its first sub-token and counts entities with conlleval; words cut off by --max-length are
// predicted "O" (so scores are always over the whole split).
//
// Files under --data: eng.train (train), eng.testa (dev), eng.testb (test); --train/--dev override.
#include <algorithm>
#include <numeric>
#include <random>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "tasks/ner/conll.h"
#include "tasks/ner/conlleval.h"
#include "tasks/task.h"

namespace lth::tasks {
namespace {

class NerTask : public Task {
 public:
  NerTask(TaskOptions options, std::shared_ptr<const tokenize::Tokenizer> tok)
      : options_(std::move(options)), tok_(std::move(tok)) {}

  std::string name() const override { return "ner/conll2003"; }
  model::HeadKind head() const override { return model::HeadKind::kTokenClassification; }
  train::LabelKind label_kind() const override { return train::LabelKind::kPerToken; }
  std::string main_metric() const override { return "f1"; }

  // The training file's labels; empty when there is no training file (evaluation then uses the
  // model's id2label).
  std::vector<std::string> labels() const override {
    if (!labels_loaded_) {
      labels_loaded_ = true;
      const std::string path = file_for("train", false);
      if (!path.empty()) labels_ = ner::label_list(train_corpus());
    }
    return labels_;
  }

  std::vector<train::Feature> train_features(uint64_t seed) override {
    const auto names = labels();
    LTH_CHECK(!names.empty(), UsageError, "{} needs training data: --data DIR with eng.train, or --train FILE", name());
    std::map<std::string, int32_t> ids;
    for (std::size_t i = 0; i < names.size(); ++i) ids[names[i]] = static_cast<int32_t>(i);
    const auto& corpus = train_corpus();
    std::vector<std::size_t> order(corpus.sentences.size());
    std::iota(order.begin(), order.end(), 0);
    if (options_.max_train_examples > 0 && static_cast<int64_t>(order.size()) > options_.max_train_examples) {
      std::mt19937_64 rng(seed);
      std::shuffle(order.begin(), order.end(), rng);
      order.resize(static_cast<std::size_t>(options_.max_train_examples));
    }
    std::vector<train::Feature> out;
    out.reserve(order.size());
    for (std::size_t i : order) {
      const auto& s = corpus.sentences[i];
      const auto enc = encode(s.words);
      auto f = featurize(enc);
      f.labels.assign(f.input_ids.size(), -100);
      for (std::size_t t = 0; t < enc.word_ids.size(); ++t) {
        const int w = enc.word_ids[t];
        if (w < 0 || (t > 0 && enc.word_ids[t - 1] == w)) continue;
        f.labels[t] = ids.at(s.tags[static_cast<std::size_t>(w)]);
      }
      out.push_back(std::move(f));
    }
    return out;
  }

  nlohmann::json evaluate(model::Bert& model, const std::string& split, const std::string& predictions_path,
                          const train::EvalContext& context) override {
    const std::string path = file_for(split, true);
    ner::Corpus corpus = ner::read_conll2003(path);
    ner::convert_to_iob2(corpus);
    const auto& names = model->config().id2label;
    LTH_CHECK(!names.empty(), ConfigError, "the model has no labels for {}", name());
    std::vector<train::Feature> features;
    std::vector<tokenize::Encoding> encodings;
    features.reserve(corpus.sentences.size());
    for (const auto& s : corpus.sentences) {
      encodings.push_back(encode(s.words));
      features.push_back(featurize(encodings.back()));
    }
    std::vector<std::vector<std::string>> predicted(corpus.sentences.size()), gold(corpus.sentences.size());
    int64_t cut = 0;
    predict(model, context, features, train::LabelKind::kNone, tok_->pad_id(), options_.eval_batch_size,
            [&](const train::Batch& batch, const model::BertOutputs& out) {
              const auto best = out.logits.to(torch::kCPU, torch::kFloat32).argmax(-1).contiguous();  // [B, L]
              const auto acc = best.accessor<int64_t, 2>();
              for (std::size_t r = 0; r < batch.indices.size(); ++r) {
                const auto i = static_cast<std::size_t>(batch.indices[r]);
                const auto& words = corpus.sentences[i].words;
                auto& tags = predicted[i];
                tags.assign(words.size(), "O");
                std::vector<bool> seen(words.size(), false);
                const auto& word_ids = encodings[i].word_ids;
                for (std::size_t t = 0; t < word_ids.size(); ++t) {
                  const int w = word_ids[t];
                  if (w < 0 || seen[static_cast<std::size_t>(w)]) continue;
                  seen[static_cast<std::size_t>(w)] = true;
                  const int64_t id = acc[static_cast<int64_t>(r)][static_cast<int64_t>(t)];
                  LTH_CHECK(id >= 0 && id < static_cast<int64_t>(names.size()), ShapeError,
                            "predicted label {} outside the model's {} labels", id, names.size());
                  tags[static_cast<std::size_t>(w)] = names[static_cast<std::size_t>(id)];
                }
                cut += std::count(seen.begin(), seen.end(), false);
              }
            });
    if (cut > 0) log::warn("ner", "{}: {} words beyond --max-length {} predicted O", path, cut, options_.max_length);
    for (std::size_t i = 0; i < corpus.sentences.size(); ++i) gold[i] = corpus.sentences[i].tags;
    const auto r = ner::conlleval(gold, predicted);
    nlohmann::json j = {{"task", name()},
                        {"split", split},
                        {"examples", corpus.sentences.size()},
                        {"tokens", r.tokens},
                        {"precision", r.overall.precision()},
                        {"recall", r.overall.recall()},
                        {"f1", r.overall.f1()},
                        {"accuracy", r.accuracy()}};
    if (!predictions_path.empty()) {
      std::string text;
      for (std::size_t i = 0; i < corpus.sentences.size(); ++i) {
        const auto& words = corpus.sentences[i].words;
        for (std::size_t w = 0; w < words.size(); ++w) {
          text += fmt::format("{}\t{}\t{}\n", words[w], gold[i][w], predicted[i][w]);
        }
        text += "\n";
      }
      write_file_atomic(predictions_path, text);
    }
    return j;
  }

 private:
  // The file of a split: --train/--dev, or eng.train / eng.testa / eng.testb under --data.
  // Returns "" when `required` is false and the file is not there.
  std::string file_for(const std::string& split, bool required) const {
    if (split == "train" && !options_.train_file.empty()) return options_.train_file;
    if (split == "dev" && !options_.dev_file.empty()) return options_.dev_file;
    std::string file;
    if (split == "train") file = "eng.train";
    else if (split == "dev" || split == "testa") file = "eng.testa";
    else if (split == "test" || split == "testb") file = "eng.testb";
    else LTH_FAIL(UsageError, "{}: unknown split '{}' (train, dev, test)", name(), split);
    if (options_.data.empty()) {
      LTH_CHECK(!required, UsageError, "{} needs --data DIR (with {}) or --{} FILE", name(), file,
                split == "train" ? "train" : "dev");
      return "";
    }
    const std::string path = options_.data + "/" + file;
    if (!required && !path_exists(path)) return "";
    return path;
  }

  const ner::Corpus& train_corpus() const {
    if (!train_) {
      train_ = std::make_unique<ner::Corpus>(ner::read_conll2003(file_for("train", true)));
      ner::convert_to_iob2(*train_);
    }
    return *train_;
  }

  tokenize::Encoding encode(const std::vector<std::string>& words) const {
    tokenize::EncodeOptions enc;
    enc.max_length = static_cast<int>(options_.max_length);
    return tok_->encode_words(words, enc);
  }

  static train::Feature featurize(const tokenize::Encoding& encoding) {
    train::Feature f;
    f.input_ids.assign(encoding.input_ids.begin(), encoding.input_ids.end());
    f.token_type_ids.assign(encoding.token_type_ids.begin(), encoding.token_type_ids.end());
    return f;
  }

  TaskOptions options_;
  std::shared_ptr<const tokenize::Tokenizer> tok_;
  mutable bool labels_loaded_ = false;
  mutable std::vector<std::string> labels_;
  mutable std::unique_ptr<ner::Corpus> train_;
};

}  // namespace

std::unique_ptr<Task> make_ner_task(const TaskOptions& options, std::shared_ptr<const tokenize::Tokenizer> tokenizer) {
  return std::make_unique<NerTask>(options, std::move(tokenizer));
}

}  // namespace lth::tasks
