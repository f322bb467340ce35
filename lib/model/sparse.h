// Packed sparse weights as another implementation of BERT's Linear layers for CPU inference, and the
// sparse checkpoint directory `lth export --sparse` writes.
//
// The model knows nothing of pruning: a layer holds an optional LinearReplacement (model/bert.h) and
// uses it only in eval mode with autograd off. Here that replacement runs CSR weights through
// ops::sparse_linear; it declines (the layer then runs its dense Linear) when the layer's weights or
// biases were modified after it was built, or the input is not float32 on the CPU. Query, key and
// value packed together run as ONE sparse product over their stacked rows, so the input is transposed
// into the kernel's token panels once for the three projections.
//
// Sparse checkpoint directory: config.json, tokenizer files, model.safetensors (every tensor that is
// not packed, as save_pretrained writes it) and sparse.safetensors holding, per packed weight N (the
// same name it would have in model.safetensors):
//   N.row_ptr  I32 [out + 1]   CSR row offsets, 0 .. nnz, non-decreasing
//   N.col_idx  I32 [nnz]       column (input feature) of each kept weight, ascending within a row
//   N.values   F32 [nnz]       the kept weights
//   N.shape    I64 [2]         (out, in)
// with metadata {"format": "lth-sparse-csr", "version": "1"}. load_pretrained (model/load.h) reads
// such a directory transparently: the dense form of each packed weight completes the checkpoint (so
// training and every other use see the same model), and the layers get the packed form for inference.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/bert.h"
#include "ops/isa.h"
#include "ops/sparse_linear.h"

namespace lth::model {

inline constexpr const char* kSparseWeightsFile = "sparse.safetensors";

// Packed weights keyed by parameter name ("bert." prefix optional, as in checkpoints of a plain encoder).
using PackedWeights = std::map<std::string, ops::PackedSparse>;

struct SparseOptions {
  // Kernel path; unset: ops::selected_isa() (LTH_SPARSE_ISA or the best this CPU runs).
  std::optional<ops::SparseIsa> isa;
  // Run a packed weight sparse only when ops::should_use_sparse says it beats dense at its density;
  // false: run every packed weight sparse (tests, benchmarks).
  bool respect_crossover = true;
};

// Names (as named_parameters() spells them) of the weights of every Linear in the model.
std::vector<std::string> linear_weight_names(Bert& model);

// Packs the model's Linear weights whose density (kept fraction) is below ops::should_use_sparse's
// crossover for their shape; every Linear weight when `all`. Keys as named_parameters() spells them.
PackedWeights pack_linear_weights(Bert& model, bool all = false);
// Packs every encoder Linear weight ("bert.encoder." names) as a mask would leave it: times its
// mask where `masks` has one (any dtype of 0/1), as it is otherwise.
PackedWeights pack_masked_encoder_weights(Bert& model, const std::map<std::string, at::Tensor>& masks);

struct SparseUse {
  int64_t sparse = 0;  // Linear weights that run through the sparse kernel
  int64_t dense = 0;   // encoder Linear weights that stay dense
};
// Gives every encoder layer a replacement running the weights in `packed` sparse (and its other
// Linears dense); layers without packed weights get none. Replaces what was installed before. Throws
// ShapeError when a packed weight's shape differs from the model's; names the model lacks are ignored.
SparseUse use_packed_weights(Bert& model, const PackedWeights& packed, const SparseOptions& options = {});
// Sparse training (ops/sparse_train.h): gives every encoder layer a replacement that runs each Linear
// whose mask in `masks` (names as named_parameters() spells them, "bert." optional) keeps less than
// ops::sparse_train_crossover_density (every masked Linear when !respect_crossover) through
// ops::masked_sparse_linear, in training and in evaluation; its other Linears run dense. The weights
// outside a mask are taken as 0 (apply the mask first, as the trainer does). Replaces what was
// installed before; ShapeError when a mask's shape differs from its weight's. CPU only: on another
// device the replacements decline and the layers run dense.
SparseUse use_sparse_training(Bert& model, const std::map<std::string, at::Tensor>& masks,
                              const SparseOptions& options = {});
// Removes every replacement: the model runs dense again.
void clear_packed_weights(Bert& model);

// sparse.safetensors: writes atomically; reads with every CSR array validated (IoError naming the file
// and the weight when an array is missing, of the wrong dtype, or inconsistent).
void save_packed_weights(const std::string& path, const PackedWeights& packed);
PackedWeights load_packed_weights(const std::string& path);

// The load hook: when `dir` holds sparse.safetensors, reads it and appends each packed weight's dense
// form to `weights`; returns the packed weights (empty without the file).
PackedWeights read_sparse_checkpoint(const std::string& dir, std::vector<std::pair<std::string, at::Tensor>>& weights);

struct SparseExportReport {
  int64_t packed = 0;             // weights written to sparse.safetensors
  int64_t linear_weights = 0;     // Linear weights in the model
  uint64_t dense_bytes = 0;       // every tensor as float32 (what save_pretrained writes, headers aside)
  uint64_t model_file_bytes = 0;  // model.safetensors written
  uint64_t sparse_file_bytes = 0; // sparse.safetensors written
};
// Writes a sparse checkpoint directory (see above) for `model` as it is (apply masks first): Linear
// weights below the crossover (when `all`: every Linear weight that CSR stores in fewer bytes, i.e.
// density < 0.5) packed.
SparseExportReport export_sparse(Bert& model, const std::string& dir, const std::string& tokenizer_from = "",
                                 bool all = false);

}  // namespace lth::model
