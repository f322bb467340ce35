// lth export: write a (masked) checkpoint for inference; --sparse packs the sparse weight matrices.
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/run_identity.h"
#include "core/log.h"
#include "model/load.h"
#include "model/sparse.h"
#include "prune/mask.h"

namespace lth::cli {
namespace {

struct ExportConfig {
  std::string model;
  std::string mask;
  std::string out;
  bool sparse = false;
  bool pack_all = false;
};

std::string mib(uint64_t bytes) { return fmt::format("{:.2f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

void run_export(const ExportConfig& cfg) {
  LTH_CHECK(!cfg.pack_all || cfg.sparse, UsageError, "--pack-all needs --sparse");
  check_model_out_dir(cfg.out, "export");
  model::Bert bert = model::load_pretrained(cfg.model);
  if (!cfg.mask.empty()) {
    const auto mask = prune::load_mask(cfg.mask);
    mask.check_fits(bert, cfg.mask);
    mask.apply(bert);
    log::info("export", "applied {} (sparsity {:.2f}% of the masked weights)", cfg.mask, 100.0 * mask.sparsity());
  }
  if (!cfg.sparse) {
    model::save_pretrained(bert, cfg.out, cfg.model);
    fmt::print("{}: dense checkpoint\n", cfg.out);
    return;
  }
  const auto r = model::export_sparse(bert, cfg.out, cfg.model, cfg.pack_all);
  fmt::print("{}: packed {} of {} Linear weight matrices (kernel path {})\n", cfg.out, r.packed, r.linear_weights,
             ops::isa_name(ops::selected_isa()));
  fmt::print("  before: {} (float32 dense)\n", mib(r.dense_bytes));
  fmt::print("  after:  {} (model.safetensors {} + {} {}), {:.2f}x smaller\n",
             mib(r.model_file_bytes + r.sparse_file_bytes), mib(r.model_file_bytes), model::kSparseWeightsFile,
             mib(r.sparse_file_bytes),
             static_cast<double>(r.dense_bytes) / static_cast<double>(r.model_file_bytes + r.sparse_file_bytes));
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto cfg = std::make_shared<ExportConfig>();
  auto* cmd = app.add_subcommand("export", "Write a (masked) checkpoint for inference; --sparse packs sparse matrices (CSR)");
  cmd->add_option("--model", cfg->model, "Hugging Face checkpoint directory")->required();
  cmd->add_option("--mask", cfg->mask, "mask.safetensors to apply first");
  cmd->add_option("--out", cfg->out, "Output directory")->required();
  cmd->add_flag("--sparse", cfg->sparse,
                "Pack every Linear weight whose density is below the measured sparse/dense crossover into "
                "sparse.safetensors (CSR); lth forward/eval run them through the sparse kernel");
  cmd->add_flag("--pack-all", cfg->pack_all, "With --sparse: pack every Linear weight below 50% density, crossover aside");
  cmd->callback([cfg] { run_export(*cfg); });
}

}  // namespace lth::cli
