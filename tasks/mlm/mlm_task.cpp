// Masked-LM on raw text: files or folders are tokenised, concatenated and cut into sequences of
// max_length ([CLS] ... [SEP]); 15% of the tokens are chosen for prediction (80% [MASK], 10% a
// random token, 10% unchanged), optionally whole words at a time. The last 2% of sequences (at
// most 1,000) are held out as the dev split, masked with a fixed seed so scores are comparable.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "tasks/task.h"

namespace lth::tasks {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> text_files(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (const auto& e : fs::recursive_directory_iterator(p, ec)) {
        if (!e.is_regular_file()) continue;
        if (e.path().filename().string().rfind("README", 0) == 0) continue;  // provenance notes, not corpus
        found.push_back(e.path().string());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      LTH_CHECK(fs::is_regular_file(p, ec), IoError, "{}: no such text file or folder", p);
      files.push_back(p);
    }
  }
  LTH_CHECK(!files.empty(), IoError, "no text files found in {}", fmt::join(paths, ", "));
  return files;
}

class MlmTask : public Task {
 public:
  MlmTask(TaskOptions options, std::shared_ptr<const tokenize::Tokenizer> tok)
      : options_(std::move(options)), tok_(std::move(tok)) {
    LTH_CHECK(tok_->mask_id() >= 0 && tok_->cls_id() >= 0 && tok_->sep_id() >= 0, ConfigError,
              "the tokenizer has no [MASK]/[CLS]/[SEP] token, needed for masked LM");
  }

  std::string name() const override { return "mlm"; }
  model::HeadKind head() const override { return model::HeadKind::kMaskedLM; }
  train::LabelKind label_kind() const override { return train::LabelKind::kPerToken; }
  std::string main_metric() const override { return "accuracy"; }

  std::vector<train::Feature> train_features(uint64_t) override {
    load();
    return train_;
  }

  std::function<void(train::Batch&, int64_t)> batch_transform(uint64_t seed) override {
    return [this, seed](train::Batch& batch, int64_t step) { mask_batch(batch, seed * 7919ULL + static_cast<uint64_t>(step)); };
  }

  // Runs its own forward pass (the decoder at masked positions only) in one process, in fp32 on the
  // context's device: the context's forward and group are not used.
  nlohmann::json evaluate(model::Bert& model, const std::string& split, const std::string&,
                          const train::EvalContext& context) override {
    LTH_CHECK(split == "dev", UsageError, "mlm has only the dev split (held-out text), not '{}'", split);
    load();
    double loss_sum = 0.0;
    int64_t correct = 0, counted = 0, batch_no = 0;
    torch::NoGradGuard no_grad;
    for (const auto& indices : train::eval_batches(dev_, options_.eval_batch_size, false)) {
      auto batch = train::collate(dev_, indices, train::LabelKind::kPerToken, tok_->pad_id());
      mask_batch(batch, 0xC0FFEEULL + static_cast<uint64_t>(batch_no++));
      const torch::Device device(context.device);
      model::ForwardOptions fwd;
      fwd.mlm_positions = batch.labels.ne(-100).to(device);
      const auto labels = batch.labels.masked_select(batch.labels.ne(-100));
      const int64_t n = labels.numel();
      if (n == 0) continue;
      model::BertOutputs out = model->forward(batch.input_ids.to(device), batch.attention_mask.to(device),
                                              batch.token_type_ids.to(device), fwd);
      auto logits = out.logits.to(torch::kCPU, torch::kFloat32);  // [n, vocab]
      loss_sum += torch::nn::functional::cross_entropy(
                      logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
      correct += logits.argmax(-1).eq(labels).sum().item<int64_t>();
      counted += n;
    }
    const double mean = counted > 0 ? loss_sum / static_cast<double>(counted) : 0.0;
    return {{"task", "mlm"}, {"split", split}, {"examples", dev_.size()}, {"masked_tokens", counted},
            {"accuracy", counted > 0 ? static_cast<double>(correct) / static_cast<double>(counted) : 0.0},
            {"loss", mean}, {"perplexity", std::exp(mean)}};
  }

 private:
  void load() {
    if (loaded_) return;
    loaded_ = true;
    std::vector<std::string> paths = options_.texts;
    if (paths.empty() && !options_.data.empty()) paths.push_back(options_.data);
    LTH_CHECK(!paths.empty(), UsageError, "mlm needs text: --text PATH (files or folders)");
    std::vector<int32_t> stream;
    std::vector<bool> word_start;
    for (const auto& file : text_files(paths)) {
      std::istringstream in(read_file(file));
      std::string line;
      while (std::getline(in, line)) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        for (const auto& piece : tok_->tokenize_with_offsets(line)) {
          stream.push_back(static_cast<int32_t>(piece.id));
        }
      }
    }
    const int64_t body = options_.max_length - 2;
    LTH_CHECK(body > 0, UsageError, "--max-length must be at least 3 for mlm");
    std::vector<train::Feature> all;
    for (size_t start = 0; start + static_cast<size_t>(body) <= stream.size(); start += static_cast<size_t>(body)) {
      train::Feature f;
      f.input_ids.reserve(static_cast<size_t>(options_.max_length));
      f.input_ids.push_back(static_cast<int32_t>(tok_->cls_id()));
      f.input_ids.insert(f.input_ids.end(), stream.begin() + static_cast<std::ptrdiff_t>(start),
                         stream.begin() + static_cast<std::ptrdiff_t>(start + static_cast<size_t>(body)));
      f.input_ids.push_back(static_cast<int32_t>(tok_->sep_id()));
      f.token_type_ids.assign(f.input_ids.size(), 0);
      all.push_back(std::move(f));
    }
    LTH_CHECK(all.size() >= 2, IoError, "not enough text for masked LM: {} tokens", stream.size());
    // Hold out a contiguous tail: the dev text never overlaps training sequences.
    const size_t dev_count = std::clamp<size_t>(all.size() / 50, 1, 1000);
    dev_.assign(all.end() - static_cast<std::ptrdiff_t>(dev_count), all.end());
    all.resize(all.size() - dev_count);
    if (options_.max_train_examples > 0 && static_cast<int64_t>(all.size()) > options_.max_train_examples) {
      all.resize(static_cast<size_t>(options_.max_train_examples));
    }
    train_ = std::move(all);
    log::info("mlm", "{} tokens -> {} training and {} dev sequences of {}", stream.size(), train_.size(), dev_.size(),
              options_.max_length);
  }

  bool is_continuation(int64_t id) const {
    const std::string t = tok_->id_to_token(id);
    return t.size() > 2 && t[0] == '#' && t[1] == '#';
  }

  // Chooses positions and rewrites input_ids/labels in place (labels -100 where not chosen).
  void mask_batch(train::Batch& batch, uint64_t seed) const {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::uniform_int_distribution<int64_t> random_token(0, tok_->vocab_size() - 1);
    auto ids = batch.input_ids.accessor<int64_t, 2>();
    auto mask = batch.attention_mask.accessor<int64_t, 2>();
    batch.labels = torch::full(batch.input_ids.sizes(), -100, torch::kLong);
    auto labels = batch.labels.accessor<int64_t, 2>();
    const int64_t rows = batch.input_ids.size(0), cols = batch.input_ids.size(1);
    for (int64_t r = 0; r < rows; ++r) {
      bool chosen_word = false;
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t id = ids[r][c];
        if (mask[r][c] == 0 || id == tok_->cls_id() || id == tok_->sep_id() || id == tok_->pad_id()) continue;
        bool chosen;
        if (options_.whole_word_masking && is_continuation(id)) {
          chosen = chosen_word;
        } else {
          chosen = u(rng) < options_.mlm_probability;
          chosen_word = chosen;
        }
        if (!chosen) continue;
        labels[r][c] = id;
        const double action = u(rng);
        if (action < 0.8) {
          ids[r][c] = tok_->mask_id();
        } else if (action < 0.9) {
          ids[r][c] = random_token(rng);
        }
      }
    }
  }

  TaskOptions options_;
  std::shared_ptr<const tokenize::Tokenizer> tok_;
  bool loaded_ = false;
  std::vector<train::Feature> train_, dev_;
};

}  // namespace

std::unique_ptr<Task> make_mlm_task(const TaskOptions& options, std::shared_ptr<const tokenize::Tokenizer> tokenizer) {
  return std::make_unique<MlmTask>(options, std::move(tokenizer));
}

}  // namespace lth::tasks
