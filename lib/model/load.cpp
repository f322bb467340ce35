#include "model/load.h"

#include <filesystem>
#include <map>
#include <set>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/names.h"
#include "model/sparse.h"

namespace lth::model {
namespace fs = std::filesystem;
namespace {

// Joins problems into one line of bounded length: as many as fit, then "(and N more)".
std::string join_bounded(const std::vector<std::string>& items, std::size_t max_bytes) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string rest = fmt::format(" (and {} more)", items.size() - i);
    const std::string item = clip(items[i], max_bytes);
    if (!out.empty() && out.size() + 2 + item.size() + rest.size() > max_bytes) return out + rest;
    out += (out.empty() ? "" : "; ") + item;
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> encoder_shapes(const BertConfig& c) {
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
      {"bert.embeddings.word_embeddings.weight", {c.vocab_size, h}},
      {"bert.embeddings.position_embeddings.weight", {c.max_position_embeddings, h}},
      {"bert.embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}},
      {"bert.embeddings.LayerNorm.weight", {h}},
      {"bert.embeddings.LayerNorm.bias", {h}},
  };
  // Each Linear's weight and bias in the table's order; the LayerNorm after AO and after O (HF's order).
  auto shape = [&](names::Matrix m) -> std::vector<int64_t> {
    if (m == names::Matrix::kI) return {inter, h};
    if (m == names::Matrix::kO) return {h, inter};
    return {h, h};
  };
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = names::layer_prefix(i);
    for (const names::MatrixInfo& m : names::kMatrices) {
      const std::vector<int64_t> w = shape(m.kind);
      out.push_back({p + m.module + ".weight", w});
      out.push_back({p + m.module + ".bias", {w[0]}});
      if (m.kind == names::Matrix::kAO || m.kind == names::Matrix::kO) {
        const std::string norm = m.kind == names::Matrix::kAO ? "attention.output.LayerNorm" : "output.LayerNorm";
        out.push_back({p + norm + ".weight", {h}});
        out.push_back({p + norm + ".bias", {h}});
      }
    }
  }
  return out;
}

void check_config_fits_checkpoint(const BertConfig& config, const std::map<std::string, std::vector<int64_t>>& shapes,
                                  const std::string& config_path, const std::string& weights_path) {
  // Layers the checkpoint has (highest index + 1). Fewer than the config asks for is one problem, not
  // one missing key per layer (1,000,000 layers would list 16M names).
  int64_t layers = 0;
  for (const auto& [name, shape] : shapes) layers = std::max(layers, names::layer_index(name) + 1);
  BertConfig common = config;
  common.num_hidden_layers = std::min(config.num_hidden_layers, std::max<int64_t>(layers, 1));
  std::vector<std::string> missing, unexpected, problems;
  std::set<std::string> expected;
  for (const auto& [name, want] : encoder_shapes(common)) {
    expected.insert(name);
    auto it = shapes.find(name);
    if (it == shapes.end()) {
      missing.push_back(name);
    } else if (it->second != want) {
      problems.push_back(fmt::format("{} has shape {} in the checkpoint, config.json implies {}", name,
                                     fmt::join(it->second, "x"), fmt::join(want, "x")));
    }
  }
  for (const auto& [name, shape] : shapes)
    if (!expected.count(name) && !names::is_other_head_tensor(name) && !names::is_tied_decoder(name))
      unexpected.push_back(name);
  if (layers < config.num_hidden_layers)
    problems.insert(problems.begin(), fmt::format("num_hidden_layers is {} but the checkpoint has {} layer(s)",
                                                  config.num_hidden_layers, layers));
  if (!unexpected.empty())
    problems.insert(problems.begin(),
                    fmt::format("unexpected {} key(s): {}", unexpected.size(), join_bounded(unexpected, 110)));
  if (!missing.empty())
    problems.insert(problems.begin(), fmt::format("missing {} key(s): {}", missing.size(), join_bounded(missing, 110)));
  if (problems.empty()) return;
  LTH_FAIL(IoError, "{} does not fit {}: {}", config_path, weights_path, join_bounded(problems, 260));
}

namespace {

// The caller's overrides of config.json.
void apply_overrides(BertConfig& config, const LoadOptions& options) {
  if (options.head) config.head = *options.head;
  if (options.labels) config.set_head(config.head, static_cast<int64_t>(options.labels->size()), *options.labels);
  if (options.hidden_dropout_prob) config.hidden_dropout_prob = *options.hidden_dropout_prob;
  if (options.attention_probs_dropout_prob) config.attention_probs_dropout_prob = *options.attention_probs_dropout_prob;
}

// Config against the weights' names and shapes BEFORE anything is built: a config.json that asks for
// a million layers or 50M words beside a small checkpoint must not allocate them.
void check_config_fits_weights(const std::string& dir, const io::CheckpointFiles& files, const BertConfig& config,
                               const io::NamedTensors& raw) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& [key, tensor] : raw) shapes.emplace(names::canonical(key), tensor.sizes().vec());
  const std::string weights = !files.index_path.empty() ? files.index_path
                              : files.weight_files.empty() ? dir : files.weight_files.front();
  check_config_fits_checkpoint(config, shapes, files.config_path, weights);
}

// A plain encoder gets a pooler only when the checkpoint has one (HF's add_pooling_layer).
std::optional<bool> pooler_wanted(const BertConfig& config, const io::NamedTensors& raw) {
  if (config.head != HeadKind::kNone) return std::nullopt;
  return std::any_of(raw.begin(), raw.end(), [](const auto& kv) { return names::is_pooler(names::canonical(kv.first)); });
}

// The checkpoint's tensors under canonical names, without the tied aliases of the MLM decoder
// (they are not parameters).
std::map<std::string, at::Tensor> canonical_tensors(const std::string& dir, io::NamedTensors& raw) {
  std::map<std::string, at::Tensor> tensors;
  for (auto& [key, tensor] : raw) {
    std::string name = names::canonical(key);
    if (tensors.count(name)) LTH_FAIL(IoError, "{}: tensor '{}' appears twice (as '{}')", dir, name, key);
    tensors.emplace(std::move(name), std::move(tensor));
  }
  for (const char* alias : names::kTiedDecoder) tensors.erase(alias);
  return tensors;
}

// What copying the checkpoint into the model's parameters found.
struct CopyResult {
  std::vector<std::string> missing, shape_errors;
  std::set<std::string> used;  // checkpoint tensors consumed (loaded, or replaced by a new head)
};

// Copies every parameter the checkpoint has with the right shape; a head parameter it lacks, or one of
// another size when the head is new or relabelled, is left to be initialised (listed in `report`). A
// copied tensor is released from `tensors` at once (its name stays, for unused_tensors).
CopyResult copy_parameters(Bert& model, std::map<std::string, at::Tensor>& tensors, bool new_head_allowed,
                           const std::string& dir, LoadReport& report) {
  CopyResult r;
  for (auto& item : model->named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    auto it = tensors.find(name);
    const bool head_param = names::is_head(name);
    if (it == tensors.end()) {
      if (head_param) {
        report.new_parameters.push_back(name);
      } else {
        r.missing.push_back(name);
      }
      continue;
    }
    const at::Tensor& source = it->second;
    if (source.sizes() != item.value().sizes()) {
      if (head_param && new_head_allowed) {
        // A new head of another size (e.g. other label count): initialised, not loaded.
        report.new_parameters.push_back(name);
        r.used.insert(name);
        continue;
      }
      r.shape_errors.push_back(fmt::format("{} has shape {} in the checkpoint, the model expects {}", name,
                                           fmt::join(source.sizes(), "x"), fmt::join(item.value().sizes(), "x")));
      continue;
    }
    LTH_CHECK(source.is_floating_point(), IoError, "{}: tensor '{}' has non-float dtype {}", dir, name,
              c10::toString(source.scalar_type()));
    item.value().copy_(source.to(torch::kFloat32));
    r.used.insert(name);
    it->second = at::Tensor();  // a mapped checkpoint tensor's pages leave memory now, not after the model is built
  }
  return r;
}

// Checkpoint tensors nothing used: another head's go to `report.ignored`, the rest are returned.
std::vector<std::string> unused_tensors(const std::map<std::string, at::Tensor>& tensors,
                                        const std::set<std::string>& used, LoadReport& report) {
  std::vector<std::string> unexpected;
  for (const auto& [name, tensor] : tensors) {
    if (used.count(name)) continue;
    if (names::is_other_head_tensor(name)) {
      report.ignored.push_back(name);
    } else {
      unexpected.push_back(name);
    }
  }
  return unexpected;
}

// One IoError listing every missing, unexpected and misshapen tensor.
void check_all_loaded(const std::string& dir, const CopyResult& copied, const std::vector<std::string>& unexpected) {
  const std::vector<std::string>& missing = copied.missing;
  const std::vector<std::string>& shape_errors = copied.shape_errors;
  if (missing.empty() && unexpected.empty() && shape_errors.empty()) return;
  std::string message = fmt::format("{}: checkpoint does not fit a BERT built from its config.json:", dir);
  if (!missing.empty()) message += fmt::format(" missing {} key(s): {};", missing.size(), fmt::join(missing, ", "));
  if (!unexpected.empty())
    message += fmt::format(" unexpected {} key(s): {};", unexpected.size(), fmt::join(unexpected, ", "));
  if (!shape_errors.empty()) message += fmt::format(" {}", fmt::join(shape_errors, "; "));
  throw IoError(message);
}

// Re-draws whatever was not loaded, as HF initialises a new head.
void init_new_parameters(Bert& model, const std::vector<std::string>& new_parameters, const std::set<std::string>& used) {
  const bool pooler_new = std::any_of(new_parameters.begin(), new_parameters.end(),
                                      [](const std::string& n) { return names::is_pooler(n); });
  // init_head re-draws every head parameter; reload those that were loaded so only new ones change.
  std::map<std::string, at::Tensor> keep;
  for (auto& item : model->named_parameters()) {
    if (names::is_head(item.key()) && used.count(item.key())) keep[item.key()] = item.value().clone();
  }
  model->init_head(pooler_new);
  for (auto& item : model->named_parameters()) {
    auto it = keep.find(item.key());
    if (it != keep.end()) item.value().copy_(it->second);
  }
}

}  // namespace

Bert load_pretrained(const std::string& dir, const LoadOptions& options, LoadReport* report) {
  const io::CheckpointFiles files = io::find_checkpoint(dir);
  BertConfig config = BertConfig::from_file(files.config_path);
  const HeadKind checkpoint_head = config.head;
  apply_overrides(config, options);

  io::NamedTensors raw = io::read_weights(files);
  // `lth export --sparse` directories: packed weights complete the checkpoint in dense form.
  const PackedWeights packed = read_sparse_checkpoint(dir, raw);
  check_config_fits_weights(dir, files, config, raw);
  Bert model(config, pooler_wanted(config, raw));
  std::map<std::string, at::Tensor> tensors = canonical_tensors(dir, raw);

  LoadReport local;
  local.format = files.format;
  const bool new_head_allowed = checkpoint_head != config.head || options.labels;
  torch::NoGradGuard no_grad;
  const CopyResult copied = copy_parameters(model, tensors, new_head_allowed, dir, local);
  const std::vector<std::string> unexpected = unused_tensors(tensors, copied.used, local);
  check_all_loaded(dir, copied, unexpected);
  if (!local.new_parameters.empty()) {
    init_new_parameters(model, local.new_parameters, copied.used);
    log::info("model", "new {} head: initialised {} (not in {})", head_name(config.head),
              fmt::join(local.new_parameters, ", "), dir);
  }
  if (!local.ignored.empty()) {
    log::debug("model", "{}: not used by the {} head: {}", dir, head_name(config.head), fmt::join(local.ignored, ", "));
  }
  if (!packed.empty()) use_packed_weights(model, packed);  // inference runs them through the sparse kernel
  if (report != nullptr) *report = std::move(local);
  return model;
}

std::vector<std::pair<std::string, at::Tensor>> hf_state_dict(Bert& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  const bool plain = model->config().head == HeadKind::kNone;
  for (auto& item : model->named_parameters()) {
    out.emplace_back(plain ? names::without_root(item.key()) : item.key(), item.value().detach());
  }
  return out;
}

int64_t fit_max_length(const std::string& dir, int64_t max_length) {
  const auto config = BertConfig::from_file(io::find_checkpoint(dir).config_path);
  if (max_length <= config.max_position_embeddings) return max_length;
  log::warn("model", "--max-length {} exceeds max_position_embeddings {} of {}: using {}", max_length,
            config.max_position_embeddings, dir, config.max_position_embeddings);
  return config.max_position_embeddings;
}

void copy_tokenizer_files(const std::string& from, const std::string& to) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(from, ec)) {
    const std::string file = entry.path().filename().string();
    const bool wanted = file == "vocab.txt" || file == "tokenizer_config.json" || file == "special_tokens_map.json" ||
                        entry.path().extension() == ".model";
    if (!wanted || !entry.is_regular_file()) continue;
    write_file_atomic((fs::path(to) / file).string(), read_file(entry.path().string()));
  }
}

void save_pretrained(Bert& model, const std::string& dir, const std::string& tokenizer_from) {
  make_dirs(dir);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, t] : hf_state_dict(model)) tensors.emplace_back(name, t.to(torch::kCPU).contiguous());
  io::save_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  write_file_atomic((fs::path(dir) / "config.json").string(), model->config().to_json().dump(2) + "\n");
  if (!tokenizer_from.empty() && fs::path(tokenizer_from) != fs::path(dir)) copy_tokenizer_files(tokenizer_from, dir);
}

}  // namespace lth::model
