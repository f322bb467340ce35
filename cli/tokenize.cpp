#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace lth::cli {
void add_tokenize_command(CLI::App& app) { (void)app; }
}  // namespace lth::cli
