// Options declared once. A config struct's fields are rows of one table: the JSON key (the flag is
// "--" + the key with '-' for '_'), the help, how to reach the field, and its range or step rule.
// From the rows come the CLI11 options, the --config reader (strict: unknown keys and wrong types
// name the file and key), the JSON that --dump-config prints, config.json holds and the run
// identity hashes, and the checks of values from either source. A flag that is not a config field
// (--epochs writes "length") is a row without a key.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/options.h"
#include "core/error.h"
#include "core/json_fields.h"
#include "core/options.h"
#include "core/step.h"

namespace lth::cli {

// "--batch-size" for "batch_size".
inline std::string flag_of(const std::string& key) {
  std::string flag = "--" + key;
  for (char& ch : flag) {
    if (ch == '_') ch = '-';
  }
  return flag;
}

// "--length must be more than zero steps" style checks of a step-valued field (3ep, 100it): a
// UsageError for a flag, a ConfigError naming the file for a --config value.
inline void check_step_text(const std::string& text, bool nonzero, const std::string& name, const std::string& source) {
  if (text.empty()) return;  // the field's default (eval_every: each epoch)
  Step step;
  try {
    step = Step::parse(text);
  } catch (const UsageError& e) {
    if (source.empty()) throw UsageError(name + ": " + e.what());
    throw ConfigError(source + ": " + name + ": " + e.what());
  }
  if (nonzero && step.is_zero()) {
    if (source.empty()) throw UsageError(fmt::format("{} must be more than zero steps (got {})", name, text));
    throw ConfigError(fmt::format("{}: {} must be more than zero steps (got {})", source, name, text));
  }
}

template <typename Config>
class OptionTable {
 public:
  struct Row {
    std::string key;                  // JSON key; empty for a flag that is not a config field
    std::string names;                // CLI11 names ("--lr"; "--train-file,--train"; "" = config only)
    std::string help;
    bool show_default = false;
    std::string type_name;            // what --help shows for the value ("FILE"); empty: CLI11's
    std::vector<std::string> choices;  // the flag must be one of these (CLI11 IsMember)
    std::optional<Range> range;        // numbers: the flag and the config value
    std::optional<bool> step_nonzero;  // steps: checked after merging (true for lengths)
    char delimiter = 0;                // lists: also split one flag value at this character
    std::function<void(const Config&, nlohmann::json&)> write;
    std::function<void(Config&, JsonFields&)> read;
    std::function<CLI::Option*(const Row&, CLI::App&, Config& scratch)> add;
    std::function<void(Config& cfg, const Config& scratch)> apply;
    std::function<double(const Config&)> number;        // set for arithmetic fields
    std::function<std::string(const Config&)> text;     // set for string fields

    Row& flag(std::string n) { names = std::move(n); return *this; }
    Row& type(std::string t) { type_name = std::move(t); return *this; }
    Row& config_only() { names.clear(); return *this; }
    Row& default_shown() { show_default = true; return *this; }
    Row& in_range(const Range& r) { range = r; return *this; }
    Row& one_of(std::vector<std::string> c) { choices = std::move(c); return *this; }
    Row& step(bool nonzero) { step_nonzero = nonzero; return *this; }
    Row& split_at(char d) { delimiter = d; return *this; }
  };

  // A config field. `ref` is a generic lambda returning the field of a Config, const or not:
  // [](auto& c) -> auto& { return c.train.lr; }. A bool field is a flag.
  template <typename Ref>
  Row& field(const std::string& key, const std::string& help, Ref ref) {
    using T = std::decay_t<decltype(ref(std::declval<Config&>()))>;
    Row row;
    row.key = key;
    row.names = flag_of(key);
    row.help = help;
    row.write = [key, ref](const Config& c, nlohmann::json& j) { j[key] = ref(c); };
    row.read = [key, ref](Config& c, JsonFields& fields) { fields.take(key.c_str(), ref(c)); };
    row.add = [ref](const Row& r, CLI::App& cmd, Config& scratch) -> CLI::Option* {
      if constexpr (std::is_same_v<T, bool>) {
        return cmd.add_flag(r.names, ref(scratch), r.help);
      } else {
        return cmd.add_option(r.names, ref(scratch), r.help);
      }
    };
    row.apply = [ref](Config& c, const Config& scratch) { ref(c) = ref(scratch); };
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      row.number = [ref](const Config& c) { return static_cast<double>(ref(c)); };
    }
    if constexpr (std::is_same_v<T, std::string>) {
      row.text = [ref](const Config& c) { return ref(c); };
    }
    rows_.push_back(std::move(row));
    return rows_.back();
  }

  // A flag that is not a config field: its value (starting at `initial`) is handed to `apply`
  // when it is given (--epochs 3 sets "length" to "3ep").
  template <typename T>
  Row& flag_only(const std::string& names, const std::string& help, T initial, std::function<void(Config&, const T&)> apply) {
    auto value = std::make_shared<T>(std::move(initial));
    Row row;
    row.names = names;
    row.help = help;
    row.add = [value](const Row& r, CLI::App& cmd, Config&) -> CLI::Option* {
      if constexpr (std::is_same_v<T, bool>) {
        return cmd.add_flag(r.names, *value, r.help);
      } else {
        return cmd.add_option(r.names, *value, r.help);
      }
    };
    row.apply = [value, apply](Config& c, const Config&) { apply(c, *value); };
    rows_.push_back(std::move(row));
    return rows_.back();
  }

  nlohmann::json to_json(const Config& c) const {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& row : rows_) {
      if (!row.key.empty()) row.write(c, j);
    }
    return j;
  }

  // Reads every key a row declares; `fields.reject_unknown()` is the caller's (it may take more).
  void read(Config& c, JsonFields& fields) const {
    for (const auto& row : rows_) {
      if (!row.key.empty()) row.read(c, fields);
    }
  }

  // The flags, bound to `scratch`; `given` is what `merge_flags` and `check` need of them.
  struct Added {
    std::vector<CLI::Option*> options;  // per row; null for config-only rows
  };
  Added add_flags(CLI::App& cmd, Config& scratch) const {
    Added added;
    for (const auto& row : rows_) {
      CLI::Option* opt = nullptr;
      if (!row.names.empty()) {
        opt = row.add(row, cmd, scratch);
        if (row.show_default) opt->capture_default_str();
        if (!row.type_name.empty()) opt->type_name(row.type_name);
        if (row.range) opt->check(cli::in_range(*row.range));
        if (!row.choices.empty()) opt->check(CLI::IsMember(row.choices));
        if (row.delimiter != 0) opt->delimiter(row.delimiter);
      }
      added.options.push_back(opt);
    }
    return added;
  }

  // Copies into `c` every flag given on the command line.
  void merge_flags(Config& c, const Config& scratch, const Added& added) const {
    for (size_t i = 0; i < rows_.size(); ++i) {
      if (added.options[i] != nullptr && added.options[i]->count() > 0) rows_[i].apply(c, scratch);
    }
  }

  // Every range and step rule, in table order, on the merged config: a value given as a flag names
  // the flag (UsageError); one from `config_file` names the file and the key (ConfigError).
  void check(const Config& c, const Added& added, const std::string& config_file) const {
    for (size_t i = 0; i < rows_.size(); ++i) {
      const Row& row = rows_[i];
      if (row.key.empty() || (!row.range && !row.step_nonzero)) continue;
      const CLI::Option* opt = added.options[i];
      const bool from_flag = opt != nullptr && opt->count() > 0;
      const bool named_by_flag = from_flag || config_file.empty();
      const std::string name = named_by_flag && opt != nullptr ? opt->get_name() : row.key;
      const std::string source = named_by_flag ? "" : config_file;
      if (row.range && row.number) check_range(name, row.number(c), *row.range, source);
      if (row.step_nonzero && row.text) check_step_text(row.text(c), *row.step_nonzero, name, source);
    }
  }

  const std::vector<Row>& rows() const { return rows_; }

 private:
  std::vector<Row> rows_;
};

// A table bound to one config object and the flags added for it, type-erased: options that live
// beside the training ones (lth prune's IMP settings) join their --config, --dump-config and checks
// (add_training_options in cli/train_options.h).
struct BoundOptions {
  std::function<void(JsonFields&)> read;
  std::function<nlohmann::json()> to_json;
  std::function<void()> merge_flags;
  std::function<void(const std::string& config_file)> check;
};

// `section`, when given, nests the table's keys under one key of the config ({"mux": {"n": 2, ...}}),
// as config.json holds them; the flags stay flat (--n).
template <typename Config>
BoundOptions bind_options(CLI::App& cmd, std::shared_ptr<const OptionTable<Config>> table, std::shared_ptr<Config> cfg,
                          const std::string& section = "") {
  auto scratch = std::make_shared<Config>(*cfg);
  auto added = std::make_shared<typename OptionTable<Config>::Added>(table->add_flags(cmd, *scratch));
  BoundOptions bound;
  bound.read = [table, cfg, section](JsonFields& fields) {
    if (section.empty()) return table->read(*cfg, fields);
    nlohmann::json nested;
    fields.take(section.c_str(), nested);
    if (nested.is_null()) return;
    JsonFields inner(nested, fields.source() + ": " + section);
    table->read(*cfg, inner);
    inner.reject_unknown();
  };
  bound.to_json = [table, cfg, section] {
    if (section.empty()) return table->to_json(*cfg);
    return nlohmann::json{{section, table->to_json(*cfg)}};
  };
  bound.merge_flags = [table, cfg, scratch, added] { table->merge_flags(*cfg, *scratch, *added); };
  bound.check = [table, cfg, added, section](const std::string& config_file) {
    table->check(*cfg, *added, config_file.empty() || section.empty() ? config_file : config_file + ": " + section);
  };
  return bound;
}

}  // namespace lth::cli
