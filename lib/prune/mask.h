// Masks over named parameters (1 keep, 0 pruned), the prunable set, and mask files.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

namespace lth::model {
class Bert;  // model/bert.h
}  // namespace lth::model

namespace lth::prune {

using NamedTensors = std::map<std::string, at::Tensor>;

// A mask: one bool tensor per pruned parameter, keyed by HF parameter name. The one mask type of
// lth: IMP computes it, mask files hold it, training keeps it exact (train::Hooks::masks).
struct Mask {
  std::map<std::string, at::Tensor> tensors;  // kBool, CPU
  std::map<std::string, std::string> metadata;

  int64_t total() const;
  int64_t kept() const;
  int64_t pruned() const { return total() - kept(); }
  double sparsity() const;
  // {"level"?, "sparsity", "pruned", "total", "per_tensor": {name: {"total", "pruned", "sparsity"}}}
  nlohmann::json stats() const;

  // Throws ShapeError listing every mask tensor whose name `weights` lacks or whose shape differs:
  // one bounded line naming `source`, every problem in the --verbose detail. Warns (does not throw)
  // when the mask's base_fingerprint differs from `model_fingerprint` (unchecked when empty).
  void check_fits(const NamedTensors& weights, const std::string& source, const std::string& model_fingerprint = "") const;
  // The same against a model's parameters; the fingerprint compared is that of the model's
  // parameters the mask names.
  void check_fits(model::Bert& model, const std::string& source) const;
  // Multiplies every masked parameter of `model` by its mask, in place (no grad): pruned weights
  // become exact zeros. Throws ShapeError when the model lacks a masked parameter.
  void apply(model::Bert& model) const;
};

// Multiplies each named parameter of `model` by its 0/1 tensor (any dtype or device), in place:
// what Mask::apply does, for masks already converted (the trainer's float masks on the device).
void apply_mask_tensors(model::Bert& model, const NamedTensors& masks);

// Chen et al.'s default: Q, K, V, attention-output, intermediate and output weights of every layer
// plus the pooler weight. Embeddings, biases, LayerNorm and task heads are never in the default.
// The rule is model::names::is_default_prunable (model/names.h).
bool is_default_prunable(const std::string& name);

// Parameter names to prune: the default set, or those matching `include` globs (fnmatch; '*'
// matches dots too), minus those matching `exclude` globs. Only 2-D weights qualify. Sorted.
std::vector<std::string> prunable_names(const std::vector<std::string>& parameter_names,
                                        const std::vector<int64_t>& parameter_dims,
                                        const std::vector<std::string>& include = {},
                                        const std::vector<std::string>& exclude = {});

Mask full_mask(const NamedTensors& weights, const std::vector<std::string>& names);

// sha256 (hex, first 32 digits) over name, shape and float32 bytes of the given tensors in name order.
std::string fingerprint(const NamedTensors& weights, const std::vector<std::string>& names);

// Mask files: safetensors, U8 0/1 tensors named by parameter, string metadata (docs/FORMATS.md).
void save_mask(const std::string& path, const Mask& mask);
// Reads and checks a mask file: U8 or BOOL tensors, values 0/1. Throws IoError naming the file.
Mask load_mask(const std::string& path);

}  // namespace lth::prune
