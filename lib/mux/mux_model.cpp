#include "mux/mux_model.h"

#include <set>

#include <torch/torch.h>

#include "core/enum_names.h"
#include "core/error.h"
#include "mux/shape.h"
#include "core/file.h"
#include "core/log.h"
#include "io/safetensors.h"
#include "core/json_fields.h"
#include "tokenize/tokenizer.h"

namespace lth::mux {
namespace {

constexpr const char* kConfigFile = "mux_config.json";
constexpr const char* kTensorFile = "mux.safetensors";

void append_named(std::vector<std::pair<std::string, at::Tensor>>& out, const std::string& prefix,
                  torch::nn::Module& module, bool buffers) {
  for (auto& item : module.named_parameters()) out.emplace_back(prefix + item.key(), item.value());
  if (buffers) {
    for (auto& item : module.named_buffers()) out.emplace_back(prefix + item.key(), item.value());
  }
}

constexpr EnumName<PoolingKind> kPoolingKinds[] = {{PoolingKind::kMean, "mean"}, {PoolingKind::kFirst, "first"}};

}  // namespace

PoolingKind pooling_kind_from_name(const std::string& name) {
  if (auto kind = enum_from_name(kPoolingKinds, name)) return *kind;
  LTH_FAIL(ConfigError, "unknown pooling '{}' (expected {})", name, enum_choices(kPoolingKinds, " or "));
}

const char* pooling_kind_name(PoolingKind kind) { return enum_name(kPoolingKinds, kind); }

nlohmann::json MuxConfig::to_json() const {
  return {{"n", n},
          {"mux", mux_kind_name(mux)},
          {"demux", demux_kind_name(demux)},
          {"hadamard_norm", hadamard_norm},
          {"pooling", pooling_kind_name(pooling)},
          {"seed", seed},
          {"index_token_format", index_token_format},
          {"filler_token", filler_token},
          {"index_tokens", index_tokens},
          {"filler_id", filler_id},
          {"index_ids", index_ids}};
}

MuxConfig MuxConfig::from_json(const nlohmann::json& j, const std::string& source) {
  JsonFields fields(j, source);
  MuxConfig c;
  std::string mux = mux_kind_name(c.mux), demux = demux_kind_name(c.demux);
  fields.take("n", c.n);
  fields.take("mux", mux);
  fields.take("demux", demux);
  fields.take("hadamard_norm", c.hadamard_norm);
  std::string pooling = "first";  // files written before the key existed
  fields.take("pooling", pooling);
  fields.take("seed", c.seed);
  fields.take("index_token_format", c.index_token_format);
  fields.take("filler_token", c.filler_token);
  fields.take("index_tokens", c.index_tokens);
  fields.take("filler_id", c.filler_id);
  fields.take("index_ids", c.index_ids);
  fields.reject_unknown();
  c.mux = mux_kind_from_name(mux);
  c.demux = demux_kind_from_name(demux);
  try {
    c.pooling = pooling_kind_from_name(pooling);
  } catch (const ConfigError& e) {
    LTH_FAIL(ConfigError, "{}: {}", source, e.what());
  }
  return c;
}

void resolve_index_tokens(MuxConfig& config, const tokenize::Tokenizer& tokenizer) {
  config.index_tokens.clear();
  config.index_ids.clear();
  config.filler_token.clear();
  config.filler_id = -1;
  if (config.demux != DemuxKind::kIndex) return;
  auto lookup = [&](int64_t k, const char* role) {
    std::string token;
    try {
      token = fmt::format(fmt::runtime(config.index_token_format), k);
    } catch (const fmt::format_error& e) {
      LTH_FAIL(ConfigError, "index token format '{}' is not a valid format string: {}", config.index_token_format,
               e.what());
    }
    const int64_t id = tokenizer.find_id(token);
    LTH_CHECK(id >= 0, ConfigError,
              "the tokenizer's vocabulary has no '{}' (the {} of the index demultiplexer for N={} needs '{}' with "
              "0..{}); name {} tokens it has with --index-tokens FORMAT, e.g. '[unused{{}}]' or '[unused_extra{{}}]'",
              token, role, config.n, config.index_token_format, config.n, config.n + 1);
    return std::make_pair(token, id);
  };
  std::tie(config.filler_token, config.filler_id) = lookup(0, "filler token");
  for (int64_t i = 0; i < config.n; ++i) {
    auto [token, id] = lookup(i + 1, "index token");
    config.index_tokens.push_back(token);
    config.index_ids.push_back(id);
  }
}

MuxBertImpl::MuxBertImpl(model::Bert bert_model, MuxConfig config, bool draw) : config_(std::move(config)) {
  LTH_CHECK(config_.n >= 1, ConfigError, "N must be at least 1, got {}", config_.n);
  const auto& bc = bert_model->config();
  if (config_.demux == DemuxKind::kIndex) {
    LTH_CHECK(static_cast<int64_t>(config_.index_ids.size()) == config_.n && config_.filler_id >= 0, ConfigError,
              "the index demultiplexer needs N={} index token ids and a filler id (resolve_index_tokens)", config_.n);
    for (int64_t id : config_.index_ids) {
      LTH_CHECK(id >= 0 && id < bc.vocab_size, ConfigError, "index token id {} is outside the vocabulary (size {})",
                id, bc.vocab_size);
    }
  }
  bert = register_module("model", std::move(bert_model));
  mux = register_module("mux", Multiplexer(MultiplexerOptions(config_.n, bc.hidden_size)
                                               .kind(config_.mux)
                                               .norm(config_.hadamard_norm)
                                               .seed(config_.seed)
                                               .draw(draw)));
  demux = register_module("demux", Demultiplexer(DemultiplexerOptions(config_.n, bc.hidden_size)
                                                     .kind(config_.demux)
                                                     .layer_norm_eps(bc.layer_norm_eps)
                                                     .initializer_range(bc.initializer_range)));
  retrieval = register_module("retrieval", RetrievalHead(RetrievalHeadOptions(bc.hidden_size, bc.vocab_size)
                                                              .layer_norm_eps(bc.layer_norm_eps)
                                                              .initializer_range(bc.initializer_range)));
}

MuxOutputs MuxBertImpl::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                const at::Tensor& token_type_ids, const MuxForwardOptions& options) {
  const int64_t n = config_.n;
  LTH_CHECK(input_ids.dim() == 2, ShapeError, "mux forward: expected input_ids [groups*N, length], got {}",
            shape_str(input_ids));
  const int64_t rows = input_ids.size(0), len = input_ids.size(1);
  LTH_CHECK(rows > 0 && rows % n == 0, ShapeError,
            "mux forward: {} rows is not a multiple of N={} (consecutive rows form a group; pad the last group)",
            rows, n);
  LTH_CHECK(attention_mask.sizes() == input_ids.sizes() && token_type_ids.sizes() == input_ids.sizes(), ShapeError,
            "mux forward: input_ids {}, attention_mask {} and token_type_ids {} must have one shape", shape_str(input_ids),
            shape_str(attention_mask), shape_str(token_type_ids));
  const int64_t groups = rows / n, p = demux->prefix_length();
  const auto& bc = bert->config();
  LTH_CHECK(p + len <= bc.max_position_embeddings, ShapeError,
            "mux forward: {} prefix positions + length {} exceed max_position_embeddings {}", p, len,
            bc.max_position_embeddings);
  const auto dev = input_ids.device();
  at::Tensor ids = input_ids, types = token_type_ids, mask = attention_mask;
  if (p > 0) {
    // Row i of every group: filler everywhere but the index token of instance i at prefix position i.
    auto prefix = torch::full({n, p}, config_.filler_id, torch::dtype(torch::kLong));
    for (int64_t i = 0; i < n; ++i) prefix[i][i] = config_.index_ids[static_cast<size_t>(i)];
    prefix = prefix.to(dev).repeat({groups, 1});
    ids = torch::cat({prefix, input_ids.to(torch::kLong)}, 1);
    types = torch::cat({torch::zeros_like(prefix), token_type_ids.to(torch::kLong)}, 1);
    mask = torch::cat({torch::ones_like(prefix), attention_mask.to(torch::kLong)}, 1);
  }
  const int64_t total = p + len;
  auto embedded = bert->bert->embed(ids, types);  // [G·N, P+L, H]
  const int64_t h = embedded.size(-1);
  // Back to the embeddings' dtype: under bf16 autocast the mixing matmul returns bf16, and the
  // encoder's first residual LayerNorm (fp32 weights) does not take a bf16 residual on LibTorch 1.13.
  auto mixed = mux(embedded.view({groups, n, total, h})).to(embedded.scalar_type());
  // Masked only where every instance of the group is padding.
  auto group_mask = mask.view({groups, n, total}).amax(1);
  auto encoded = bert->bert->encode(mixed, group_mask).last_hidden_state;  // [G, P+L, H]

  MuxOutputs out;
  const auto head = bc.head;
  const bool sequence_level = head == model::HeadKind::kSequenceClassification || head == model::HeadKind::kNone;
  const bool one_state = sequence_level && !options.all_positions;  // a sequence head reads one per row
  if (one_state && config_.pooling == PoolingKind::kFirst) {
    out.demuxed = demux->first(encoded).reshape({rows, 1, h});
  } else {
    out.demuxed = demux->forward(encoded).reshape({rows, len, h});
    if (one_state) {  // mean over each instance's own non-padding positions ([CLS] included)
      const auto keep = attention_mask.to(out.demuxed.device(), out.demuxed.scalar_type()).unsqueeze(-1);  // [G·N, L, 1]
      out.demuxed = ((out.demuxed * keep).sum(1) / keep.sum(1).clamp_min(1.0)).unsqueeze(1);
    }
  }
  out.task.last_hidden_state = out.demuxed;
  if (bert->bert->has_pooler()) out.task.pooler_output = bert->bert->pool(out.demuxed);
  bert->apply_head(out.task);

  if (options.retrieval) {
    auto which = options.generator ? torch::randint(0, n, {groups, len}, *options.generator, torch::dtype(torch::kLong))
                                   : torch::randint(0, n, {groups, len}, torch::dtype(torch::kLong));
    which = which.to(dev);
    auto pick = [&](const at::Tensor& t) { return t.view({groups, n, len}).gather(1, which.unsqueeze(1)).squeeze(1); };
    auto targets = pick(input_ids.to(torch::kLong));
    auto valid = pick(attention_mask.to(torch::kLong)).gt(0);
    if (options.real_rows.defined()) {
      LTH_CHECK(options.real_rows.numel() == rows, ShapeError, "mux forward: real_rows has {} entries for {} rows",
                options.real_rows.numel(), rows);
      valid = valid.logical_and(options.real_rows.to(dev, torch::kBool).view({groups, n}).gather(1, which));
    }
    LTH_CHECK(options.retrieval_fraction > 0.0 && options.retrieval_fraction <= 1.0, UsageError,
              "retrieval fraction {} is not in (0, 1]", options.retrieval_fraction);
    if (options.retrieval_fraction < 1.0) {
      auto u = options.generator ? torch::rand({groups, len}, *options.generator) : torch::rand({groups, len});
      valid = valid.logical_and(u.to(dev).lt(options.retrieval_fraction));
    }
    // Only scored positions reach the vocabulary-sized head.
    out.retrieval_positions = valid.reshape({-1}).nonzero().squeeze(1);
    auto states = demux->select(encoded, which).reshape({groups * len, -1}).index_select(0, out.retrieval_positions);
    out.retrieval_logits = retrieval(states, bert->bert->embeddings->word_embeddings->weight);
    out.retrieval_targets = targets.reshape({-1}).index_select(0, out.retrieval_positions);
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> MuxBertImpl::mux_tensors(bool with_buffers) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  append_named(out, "mux.", *mux, with_buffers);
  append_named(out, "demux.", *demux, with_buffers);
  append_named(out, "retrieval.", *retrieval, with_buffers);
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> MuxBertImpl::mux_state() { return mux_tensors(true); }

std::vector<std::pair<std::string, at::Tensor>> MuxBertImpl::mux_parameters() { return mux_tensors(false); }

void save_mux(MuxBert& model, const std::string& dir, const std::string& tokenizer_from) {
  make_dirs(dir);
  model::save_pretrained(model->bert, dir, tokenizer_from);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, t] : model->mux_state()) tensors.emplace_back(name, t.detach().to(torch::kCPU).contiguous());
  io::save_safetensors(dir + "/" + kTensorFile, tensors, {{"format", "lth-mux"}});
  write_file_atomic(dir + "/" + kConfigFile, model->config().to_json().dump(2) + "\n");
}

bool is_mux_dir(const std::string& dir) { return path_exists(dir + "/" + kConfigFile); }

MuxBert load_mux(const std::string& dir, const model::LoadOptions& options) {
  const std::string config_path = dir + "/" + kConfigFile;
  LTH_CHECK(path_exists(config_path), IoError, "{}: no {} (not a multiplexed model: train one with lth mux train)",
            dir, kConfigFile);
  auto config = MuxConfig::from_json(read_json_file(config_path), config_path);
  auto bert = model::load_pretrained(dir, options);
  MuxBert model(bert, config, /*draw=*/false);
  const std::string path = dir + "/" + kTensorFile;
  io::SafetensorsFile file(path);
  std::vector<std::string> missing, mis_shaped, unexpected;
  std::set<std::string> known;
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : model->mux_state()) {
    known.insert(name);
    if (!file.contains(name)) {
      missing.push_back(name);
      continue;
    }
    auto loaded = file.load(name);
    if (loaded.sizes() != t.sizes()) {
      mis_shaped.push_back(fmt::format("{} (file {}, model {})", name, shape_str(loaded), shape_str(t)));
      continue;
    }
    t.copy_(loaded);
  }
  for (const auto& e : file.entries()) {
    if (!known.count(e.name)) unexpected.push_back(e.name);
  }
  LTH_CHECK(missing.empty() && unexpected.empty() && mis_shaped.empty(), IoError,
            "{}: does not fit the mux config in {}: missing [{}], unexpected [{}], wrong shape [{}]", path, config_path,
            fmt::join(missing, ", "), fmt::join(unexpected, ", "), fmt::join(mis_shaped, ", "));
  return model;
}

}  // namespace lth::mux
