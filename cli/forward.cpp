#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace lth::cli {
void add_forward_command(CLI::App& app) { (void)app; }
}  // namespace lth::cli
