// lth report: sparsity/metric report over IMP run directories (Markdown, JSON or self-contained HTML).
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "report/report.h"

namespace lth::cli {

void add_report_command(CLI::App& app) {
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto format = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("report", "Report sparsity, scores, per-matrix sparsity and mask overlap of IMP runs");
  cmd->add_option("RUN_DIR", *inputs,
                  "IMP run directories (or directories of them); seeds of one config are averaged. A "
                  "transfer-matrix.json file adds the transfer section")
      ->required();
  cmd->add_option("--format", *format, "md, json or html (default: from --out's extension, else md)")
      ->check(CLI::IsMember({"md", "markdown", "json", "html"}));
  cmd->add_option("--out", *out, "Write the report here (atomically) instead of stdout");
  cmd->callback([inputs, format, out] {
    report::ReportOptions options;
    options.inputs = *inputs;
    if (!format->empty()) options.format = report::parse_format(*format);
    options.out = *out;
    report::run_report(options);
  });
}

}  // namespace lth::cli
