#include "model/sparse.h"

#include <filesystem>
#include <set>

#include <torch/torch.h>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "io/safetensors.h"
#include "model/load.h"
#include "model/names.h"
#include "ops/sparse_train.h"

namespace lth::model {
namespace fs = std::filesystem;
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One Linear a replacement computes: packed (sparse kernel) or dense weight.
struct Part {
  std::shared_ptr<const ops::PackedSparse> packed;
  at::Tensor weight;  // the Linear's live weight, used when not packed
  at::Tensor bias;    // the Linear's live bias (may be undefined)
};

// A tensor the replacement depends on and its version counter when the replacement was built: an
// in-place change afterwards (training, a mask applied) makes the replacement decline.
struct Watched {
  at::Tensor tensor;
  int64_t version = 0;
  const void* data = nullptr;
};

class SparseLinears final : public LinearReplacement {
 public:
  SparseLinears(std::vector<Part> parts, std::vector<at::Tensor> watch, ops::SparseIsa isa)
      : parts_(std::move(parts)), isa_(isa) {
    for (auto& t : watch) watched_.push_back({t, t._version(), t.data_ptr()});
    bool all_packed = parts_.size() > 1;
    for (const Part& p : parts_) all_packed = all_packed && p.packed;
    if (all_packed) fuse();
  }

  std::vector<at::Tensor> forward(const at::Tensor& x) const override {
    if (!x.device().is_cpu() || x.scalar_type() != at::kFloat || x.dim() < 1) return {};
    for (const Watched& w : watched_) {
      if (w.tensor._version() != w.version || w.tensor.data_ptr() != w.data) {
        if (!warned_) log::debug("model", "sparse weights are stale (the model was modified): running dense");
        warned_ = true;
        return {};
      }
    }
    std::vector<at::Tensor> out;
    out.reserve(parts_.size());
    if (fused_) {
      const int64_t in = fused_->cols();
      const at::Tensor xc = x.contiguous();
      const int64_t tokens = xc.numel() / in;
      at::Tensor y = torch::empty({tokens, fused_->rows()}, x.options());
      ops::sparse_linear_raw(*fused_, xc.data_ptr<float>(), tokens, fused_bias_.defined() ? fused_bias_.data_ptr<float>() : nullptr,
                             y.data_ptr<float>(), isa_, at::get_num_threads());
      std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
      int64_t offset = 0;
      for (const Part& p : parts_) {
        shape.back() = p.packed->rows();
        out.push_back(y.narrow(1, offset, p.packed->rows()).view(shape));
        offset += p.packed->rows();
      }
      return out;
    }
    for (const Part& p : parts_) {
      if (p.packed) {
        out.push_back(ops::sparse_linear(*p.packed, x, p.bias.defined() ? c10::optional<at::Tensor>(p.bias) : c10::nullopt, isa_));
      } else {
        out.push_back(at::linear(x, p.weight, p.bias.defined() ? c10::optional<at::Tensor>(p.bias) : c10::nullopt));
      }
    }
    return out;
  }

 private:
  // Stacks the parts' rows into one CSR matrix (and their biases into one vector).
  void fuse() {
    int64_t rows = 0, nnz = 0;
    const int64_t cols = parts_[0].packed->cols();
    for (const Part& p : parts_) {
      if (p.packed->cols() != cols) return;
      rows += p.packed->rows();
      nnz += p.packed->nnz();
    }
    if (nnz > INT32_MAX) return;
    std::vector<int32_t> row_ptr{0}, col_idx;
    std::vector<float> values;
    row_ptr.reserve(static_cast<std::size_t>(rows) + 1);
    col_idx.reserve(static_cast<std::size_t>(nnz));
    values.reserve(static_cast<std::size_t>(nnz));
    bool any_bias = false;
    for (const Part& p : parts_) {
      const int32_t base = static_cast<int32_t>(values.size());
      for (std::size_t r = 1; r < p.packed->row_ptr().size(); ++r) row_ptr.push_back(base + p.packed->row_ptr()[r]);
      col_idx.insert(col_idx.end(), p.packed->col_idx().begin(), p.packed->col_idx().end());
      values.insert(values.end(), p.packed->values().begin(), p.packed->values().end());
      any_bias = any_bias || p.bias.defined();
    }
    fused_ = std::make_shared<ops::PackedSparse>(
        ops::PackedSparse::from_csr(rows, cols, std::move(row_ptr), std::move(col_idx), std::move(values)));
    if (any_bias) {
      std::vector<at::Tensor> biases;
      for (const Part& p : parts_) {
        biases.push_back(p.bias.defined() ? p.bias.detach().to(torch::kFloat32) : torch::zeros({p.packed->rows()}));
      }
      fused_bias_ = torch::cat(biases).contiguous();
    }
  }

  std::vector<Part> parts_;
  std::vector<Watched> watched_;
  ops::SparseIsa isa_;
  std::shared_ptr<const ops::PackedSparse> fused_;
  at::Tensor fused_bias_;
  mutable bool warned_ = false;
};

// One Linear of a sparse-training replacement: the module (its live weight and bias) and, when it
// runs sparse, the kept positions of its mask.
struct TrainPart {
  torch::nn::Linear linear{nullptr};
  std::shared_ptr<const ops::SparsePattern> pattern;
};

class SparseTrainingLinears final : public LinearReplacement {
 public:
  SparseTrainingLinears(std::vector<TrainPart> parts, ops::SparseIsa isa) : parts_(std::move(parts)), isa_(isa) {}

  bool trains() const override { return true; }

  std::vector<at::Tensor> forward(const at::Tensor& x) const override {
    if (!x.device().is_cpu()) return {};
    std::vector<at::Tensor> out;
    out.reserve(parts_.size());
    for (const TrainPart& p : parts_) {
      const at::Tensor& w = p.linear->weight;
      const at::Tensor& b = p.linear->bias;
      if (!w.device().is_cpu()) return {};
      out.push_back(p.pattern ? ops::masked_sparse_linear(x, w, b, *p.pattern, isa_)
                              : at::linear(x, w, b.defined() ? c10::optional<at::Tensor>(b) : c10::nullopt));
    }
    return out;
  }

 private:
  std::vector<TrainPart> parts_;
  ops::SparseIsa isa_;
};

struct LayerLinears {
  std::string prefix;  // "bert.encoder.layer.N."
  BertLayer layer;
};

std::vector<LayerLinears> encoder_layers(Bert& model) {
  std::vector<LayerLinears> out;
  int64_t i = 0;
  for (const auto& module : *model->bert->layers) {
    out.push_back({names::layer_prefix(i++), BertLayer(std::dynamic_pointer_cast<BertLayerImpl>(module))});
  }
  return out;
}

using LinearGroup = std::vector<std::pair<names::Matrix, torch::nn::Linear>>;

// Gives each encoder layer's four Linear groups (query/key/value together, attention output,
// intermediate, output) the replacement `make(layer prefix, group)` returns (null: none).
template <class Make>
void install_replacements(Bert& model, const Make& make) {
  using names::Matrix;
  for (auto& l : encoder_layers(model)) {
    auto& self = l.layer->attention->self;
    self->qkv_replacement = make(l.prefix, LinearGroup{{Matrix::kQ, self->query}, {Matrix::kK, self->key}, {Matrix::kV, self->value}});
    l.layer->attention->output->dense_replacement = make(l.prefix, LinearGroup{{Matrix::kAO, l.layer->attention->output->dense}});
    l.layer->intermediate->dense_replacement = make(l.prefix, LinearGroup{{Matrix::kI, l.layer->intermediate->dense}});
    l.layer->output->dense_replacement = make(l.prefix, LinearGroup{{Matrix::kO, l.layer->output->dense}});
  }
}

}  // namespace

std::vector<std::string> linear_weight_names(Bert& model) {
  std::vector<std::string> out;
  for (const auto& item : model->named_modules()) {
    if (item.value()->as<torch::nn::LinearImpl>() != nullptr) out.push_back(item.key() + ".weight");
  }
  return out;
}

PackedWeights pack_linear_weights(Bert& model, bool all) {
  torch::NoGradGuard no_grad;
  PackedWeights out;
  const auto params = model->named_parameters();
  for (const std::string& name : linear_weight_names(model)) {
    const at::Tensor w = params[name].detach();
    const int64_t total = w.numel();
    const double density = total > 0 ? static_cast<double>(w.count_nonzero().item<int64_t>()) / static_cast<double>(total) : 1.0;
    if (all || ops::should_use_sparse(density, w.size(1), w.size(0))) out.emplace(name, ops::pack(w));
  }
  return out;
}

PackedWeights pack_masked_encoder_weights(Bert& model, const std::map<std::string, at::Tensor>& masks) {
  torch::NoGradGuard no_grad;
  PackedWeights out;
  const auto params = model->named_parameters();
  for (const std::string& name : linear_weight_names(model)) {
    if (name.rfind("bert.encoder.", 0) != 0) continue;  // the encoder's layers only
    const at::Tensor w = params[name].detach();
    auto it = masks.find(name);
    out.emplace(name, ops::pack(it == masks.end() ? w : w * it->second.to(torch::kFloat32)));
  }
  return out;
}

void clear_packed_weights(Bert& model) {
  for (auto& l : encoder_layers(model)) {
    l.layer->attention->self->qkv_replacement.reset();
    l.layer->attention->output->dense_replacement.reset();
    l.layer->intermediate->dense_replacement.reset();
    l.layer->output->dense_replacement.reset();
  }
}

SparseUse use_packed_weights(Bert& model, const PackedWeights& packed, const SparseOptions& options) {
  const ops::SparseIsa isa = options.isa.value_or(ops::selected_isa());
  LTH_CHECK(ops::isa_supported(isa), ConfigError, "sparse kernel path '{}' is not supported on this CPU/build",
            ops::isa_name(isa));
  std::map<std::string, std::shared_ptr<const ops::PackedSparse>> by_name;
  for (const auto& [key, p] : packed) by_name[names::with_root(key)] = std::make_shared<ops::PackedSparse>(p);
  const auto params = model->named_parameters();
  std::vector<std::string> unknown;
  for (const auto& [name, p] : by_name) {
    const at::Tensor* w = params.find(name);
    if (w == nullptr || !ends_with(name, ".weight")) {
      unknown.push_back(name);
      continue;
    }
    LTH_CHECK(w->dim() == 2 && w->size(0) == p->rows() && w->size(1) == p->cols(), ShapeError,
              "packed weight {} is [{}, {}], the model's is {}", name, p->rows(), p->cols(), fmt::join(w->sizes(), "x"));
  }
  // E.g. the packed weights of a task head the model was built without: they stay unused.
  if (!unknown.empty()) log::debug("model", "packed weights the model has no weight for: {}", fmt::join(unknown, ", "));

  clear_packed_weights(model);
  SparseUse use;
  // A replacement for the Linears `linears` (matrices of the layer at `prefix`), or null when none runs sparse.
  auto make = [&](const std::string& prefix, const LinearGroup& linears)
      -> std::shared_ptr<const LinearReplacement> {
    std::vector<Part> parts;
    std::vector<at::Tensor> watch;
    int64_t sparse = 0;
    for (const auto& [matrix, linear] : linears) {
      Part part;
      part.weight = linear->weight.detach();
      if (linear->bias.defined()) part.bias = linear->bias.detach();
      auto it = by_name.find(prefix + names::info(matrix).module + ".weight");
      if (it != by_name.end() &&
          (!options.respect_crossover || ops::sparse_crossover_density(isa, it->second->cols(), it->second->rows()) >
                                             it->second->density())) {
        part.packed = it->second;
        ++sparse;
        watch.push_back(part.weight);
      }
      if (part.bias.defined()) watch.push_back(part.bias);
      parts.push_back(std::move(part));
    }
    use.sparse += sparse;
    use.dense += static_cast<int64_t>(linears.size()) - sparse;
    if (sparse == 0) return nullptr;
    // Dense parts run the live weights; only sparse parts (copies) and fused biases can go stale.
    return std::make_shared<SparseLinears>(std::move(parts), std::move(watch), isa);
  };
  install_replacements(model, make);
  return use;
}

SparseUse use_sparse_training(Bert& model, const std::map<std::string, at::Tensor>& masks, const SparseOptions& options) {
  const ops::SparseIsa isa = options.isa.value_or(ops::selected_isa());
  LTH_CHECK(ops::isa_supported(isa), ConfigError, "sparse kernel path '{}' is not supported on this CPU/build",
            ops::isa_name(isa));
  std::map<std::string, at::Tensor> by_name;
  for (const auto& [key, m] : masks) by_name[names::with_root(key)] = m;
  clear_packed_weights(model);
  SparseUse use;
  auto make = [&](const std::string& prefix, const LinearGroup& linears)
      -> std::shared_ptr<const LinearReplacement> {
    std::vector<TrainPart> parts;
    int64_t sparse = 0;
    for (const auto& [matrix, linear] : linears) {
      TrainPart part;
      part.linear = linear;
      const std::string name = prefix + names::info(matrix).module + ".weight";
      auto it = by_name.find(name);
      if (it != by_name.end()) {
        const at::Tensor& w = linear->weight;
        LTH_CHECK(it->second.sizes() == w.sizes(), ShapeError, "mask for {} is {}, the weight is {}", name,
                  fmt::join(it->second.sizes(), "x"), fmt::join(w.sizes(), "x"));
        auto pattern = ops::sparse_pattern(it->second);
        if (!options.respect_crossover || pattern->density() < ops::sparse_train_crossover_density(isa, w.size(1), w.size(0))) {
          part.pattern = std::move(pattern);
          ++sparse;
        }
      }
      parts.push_back(std::move(part));
    }
    use.sparse += sparse;
    use.dense += static_cast<int64_t>(linears.size()) - sparse;
    if (sparse == 0) return nullptr;
    return std::make_shared<SparseTrainingLinears>(std::move(parts), isa);
  };
  install_replacements(model, make);
  return use;
}

void save_packed_weights(const std::string& path, const PackedWeights& packed) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  auto from_vector = [](const auto& v, c10::ScalarType type) {
    return torch::from_blob(const_cast<void*>(static_cast<const void*>(v.data())), {static_cast<int64_t>(v.size())},
                            torch::TensorOptions().dtype(type))
        .clone();
  };
  for (const auto& [name, p] : packed) {
    tensors.emplace_back(name + ".row_ptr", from_vector(p.row_ptr(), torch::kInt32));
    tensors.emplace_back(name + ".col_idx", from_vector(p.col_idx(), torch::kInt32));
    tensors.emplace_back(name + ".values", from_vector(p.values(), torch::kFloat32));
    tensors.emplace_back(name + ".shape", torch::tensor({p.rows(), p.cols()}, torch::kInt64));
  }
  io::save_safetensors(path, tensors, {{"format", "lth-sparse-csr"}, {"version", "1"}});
}

PackedWeights load_packed_weights(const std::string& path) {
  const io::SafetensorsFile file(path);
  static const char* kParts[] = {".row_ptr", ".col_idx", ".values", ".shape"};
  std::set<std::string> names;
  for (const io::TensorEntry& e : file.entries()) {
    bool known = false;
    for (const char* part : kParts) {
      if (ends_with(e.name, part)) {
        names.insert(e.name.substr(0, e.name.size() - std::string(part).size()));
        known = true;
      }
    }
    LTH_CHECK(known, IoError, "{}: tensor '{}' is not part of a packed weight (expected NAME.row_ptr, .col_idx, "
              ".values, .shape)", path, e.name);
  }
  PackedWeights out;
  for (const std::string& name : names) {
    auto get = [&](const char* part, const char* dtype, int64_t rank) {
      const std::string key = name + part;
      LTH_CHECK(file.contains(key), IoError, "{}: packed weight '{}' has no '{}'", path, name, key);
      const io::TensorEntry& e = file.entry(key);
      LTH_CHECK(e.dtype == dtype && static_cast<int64_t>(e.shape.size()) == rank, IoError,
                "{}: '{}' must be {} with {} dimension(s), is {} with {}", path, key, dtype, rank, e.dtype, e.shape.size());
      return file.load(key).contiguous();
    };
    const at::Tensor shape = get(".shape", "I64", 1);
    LTH_CHECK(shape.numel() == 2, IoError, "{}: '{}.shape' must hold (out, in)", path, name);
    const at::Tensor rp = get(".row_ptr", "I32", 1), ci = get(".col_idx", "I32", 1), va = get(".values", "F32", 1);
    auto to_vec = [](const at::Tensor& t, auto tag) {
      using T = decltype(tag);
      const T* p = t.data_ptr<T>();
      return std::vector<T>(p, p + t.numel());
    };
    try {
      out.emplace(name, ops::PackedSparse::from_csr(shape[0].item<int64_t>(), shape[1].item<int64_t>(),
                                                    to_vec(rp, int32_t{}), to_vec(ci, int32_t{}), to_vec(va, float{})));
    } catch (const ShapeError& e) {
      LTH_FAIL(IoError, "{}: packed weight '{}' is damaged: {}", path, name, e.what());
    }
  }
  return out;
}

PackedWeights read_sparse_checkpoint(const std::string& dir, std::vector<std::pair<std::string, at::Tensor>>& weights) {
  const std::string path = (fs::path(dir) / kSparseWeightsFile).string();
  if (!path_exists(path)) return {};
  PackedWeights packed = load_packed_weights(path);
  for (const auto& [name, p] : packed) weights.emplace_back(name, p.to_dense());
  log::debug("model", "{}: {} packed weight(s)", path, packed.size());
  return packed;
}

SparseExportReport export_sparse(Bert& model, const std::string& dir, const std::string& tokenizer_from, bool all) {
  torch::NoGradGuard no_grad;
  SparseExportReport report;
  PackedWeights packed;
  const auto names = linear_weight_names(model);
  report.linear_weights = static_cast<int64_t>(names.size());
  const std::set<std::string> linear(names.begin(), names.end());
  std::vector<std::pair<std::string, at::Tensor>> dense;
  const bool plain = model->config().head == HeadKind::kNone;
  for (auto& [hf_name, t] : hf_state_dict(model)) {
    report.dense_bytes += static_cast<uint64_t>(t.numel()) * sizeof(float);
    const std::string name = plain ? names::with_root(hf_name) : hf_name;
    if (linear.count(name) && t.dim() == 2) {
      const double density =
          t.numel() > 0 ? static_cast<double>(t.count_nonzero().item<int64_t>()) / static_cast<double>(t.numel()) : 1.0;
      if (all ? density < 0.5 : ops::should_use_sparse(density, t.size(1), t.size(0))) {
        packed.emplace(hf_name, ops::pack(t));
        continue;
      }
    }
    dense.emplace_back(hf_name, t.to(torch::kCPU, torch::kFloat32).contiguous());
  }
  report.packed = static_cast<int64_t>(packed.size());
  make_dirs(dir);
  const std::string model_file = (fs::path(dir) / "model.safetensors").string();
  const std::string sparse_file = (fs::path(dir) / kSparseWeightsFile).string();
  io::save_safetensors(model_file, dense, {{"format", "pt"}});
  std::error_code ec;
  if (packed.empty()) {
    fs::remove(sparse_file, ec);  // a dense export replaces an earlier sparse one
  } else {
    save_packed_weights(sparse_file, packed);
  }
  write_file_atomic((fs::path(dir) / "config.json").string(), model->config().to_json().dump(2) + "\n");
  if (!tokenizer_from.empty() && fs::path(tokenizer_from) != fs::path(dir)) copy_tokenizer_files(tokenizer_from, dir);
  report.model_file_bytes = fs::file_size(model_file);
  report.sparse_file_bytes = packed.empty() ? 0 : fs::file_size(sparse_file);
  return report;
}

}  // namespace lth::model
