// lth forward: run a checkpoint on given inputs and write every output as float32 safetensors.
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "cli/commands.h"
#include "core/file.h"
#include "core/log.h"
#include "io/safetensors.h"
#include "model/inputs.h"
#include "model/load.h"

namespace lth::cli {
namespace {

struct ForwardConfig {
  std::string model;
  std::string inputs;
  std::string out;
  bool attentions = false;
  RuntimeOptions runtime;
};

void run_forward(const ForwardConfig& cfg) {
  const std::string device = apply_runtime_options(cfg.runtime);
  model::Bert bert = model::load_pretrained(cfg.model);
  bert->eval();
  bert->to(torch::Device(device));
  const model::BatchInputs in = model::read_inputs_file(cfg.inputs, bert->config());
  torch::NoGradGuard no_grad;
  const auto dev = torch::Device(device);
  model::ForwardOptions options;
  options.hidden_states = true;
  options.attentions = cfg.attentions;
  auto out = bert->forward(in.input_ids.to(dev), in.attention_mask.to(dev), in.token_type_ids.to(dev), options);

  std::vector<std::pair<std::string, at::Tensor>> tensors;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    if (t.defined()) tensors.emplace_back(name, t.to(torch::kCPU, torch::kFloat32).contiguous());
  };
  add("last_hidden_state", out.last_hidden_state);
  add("pooler_output", out.pooler_output);
  for (size_t k = 0; k < out.hidden_states.size(); ++k) add("hidden_states." + std::to_string(k), out.hidden_states[k]);
  for (size_t k = 0; k < out.attentions.size(); ++k) add("attentions." + std::to_string(k), out.attentions[k]);
  add("logits", out.logits);
  add("start_logits", out.start_logits);
  add("end_logits", out.end_logits);
  io::save_safetensors(cfg.out, tensors, {{"format", "pt"}, {"model", cfg.model}});
  log::info("forward", "wrote {} tensors to {}", tensors.size(), cfg.out);
}

}  // namespace

void add_forward_command(CLI::App& app) {
  auto cfg = std::make_shared<ForwardConfig>();
  auto* cmd = app.add_subcommand("forward", "Run a checkpoint on token ids; write all outputs as safetensors");
  cmd->add_option("--model", cfg->model, "Hugging Face checkpoint directory")->required();
  cmd->add_option("--inputs", cfg->inputs, "JSON with input_ids, attention_mask, token_type_ids (lists of lists)")
      ->required();
  cmd->add_option("--out", cfg->out, "Output .safetensors: last_hidden_state, pooler_output, hidden_states.K, "
                                     "logits | start_logits + end_logits")
      ->required();
  cmd->add_flag("--attentions", cfg->attentions, "Also write attentions.K (probabilities after softmax)");
  add_runtime_options(*cmd, cfg->runtime);
  cmd->callback([cfg] { run_forward(*cfg); });
}

}  // namespace lth::cli
