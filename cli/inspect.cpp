// lth inspect: what a checkpoint directory holds (architecture, config, parameters per module).
#include <filesystem>
#include <map>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "cli/commands.h"
#include "io/checkpoint.h"
#include "model/load.h"
#include "model/names.h"

namespace lth::cli {
namespace {

void run_inspect(const std::string& dir, bool as_json) {
  const io::CheckpointFiles files = io::find_checkpoint(dir);
  model::Bert bert = model::load_pretrained(dir);
  const model::BertConfig& c = bert->config();
  std::vector<std::pair<std::string, int64_t>> groups;
  int64_t total = 0;
  for (const auto& item : bert->named_parameters()) {
    const std::string g = model::names::group(item.key());
    if (groups.empty() || groups.back().first != g) groups.emplace_back(g, 0);
    groups.back().second += item.value().numel();
    total += item.value().numel();
  }
  uintmax_t bytes = 0;
  for (const auto& f : files.weight_files) bytes += std::filesystem::file_size(f);

  nlohmann::json j;
  j["directory"] = dir;
  j["architecture"] = model::architecture_name(c.head);
  j["format"] = files.format;
  j["weight_files"] = files.weight_files;
  j["weight_bytes"] = bytes;
  j["config"] = {{"vocab_size", c.vocab_size},        {"hidden_size", c.hidden_size},
                 {"num_hidden_layers", c.num_hidden_layers}, {"num_attention_heads", c.num_attention_heads},
                 {"intermediate_size", c.intermediate_size}, {"hidden_act", c.hidden_act},
                 {"max_position_embeddings", c.max_position_embeddings}, {"type_vocab_size", c.type_vocab_size},
                 {"num_labels", c.num_labels()},        {"pooler", bert->bert->has_pooler()}};
  j["parameters"] = total;
  nlohmann::json per = nlohmann::json::array();
  for (const auto& [g, n] : groups) per.push_back({{"module", g}, {"parameters", n}});
  j["per_module"] = per;
  if (as_json) {
    fmt::print("{}\n", j.dump(2));
    return;
  }
  fmt::print("{}\n  architecture  {}\n  format        {} ({} file(s), {:.2f} MB)\n", dir, j["architecture"].get<std::string>(),
             files.format, files.weight_files.size(), static_cast<double>(bytes) / 1e6);
  fmt::print("  shape         {} layers, hidden {}, {} heads, ffn {}, vocab {}, max length {}, act {}\n",
             c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size, c.vocab_size,
             c.max_position_embeddings, c.hidden_act);
  if (c.head == model::HeadKind::kSequenceClassification || c.head == model::HeadKind::kTokenClassification) {
    fmt::print("  labels        {}\n", fmt::join(c.id2label, ", "));
  }
  fmt::print("  parameters    {}\n", total);
  for (const auto& [g, n] : groups) fmt::print("    {:<18} {:>12}\n", g, n);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("inspect", "Show a checkpoint's architecture, config and parameter counts");
  cmd->add_option("MODEL_DIR", *dir, "Hugging Face checkpoint directory")->required();
  cmd->add_flag("--json", *as_json, "Print JSON instead of a table");
  cmd->callback([dir, as_json] { run_inspect(*dir, *as_json); });
}

}  // namespace lth::cli
