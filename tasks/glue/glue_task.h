// The torch side of the GLUE tasks, shared by the registered "glue/*" Task and by callers that run
// their own forward passes over a split (lth mux: N instances per pass): reading a split, featurising
// it in file order, and scoring predictions with the task's official metrics.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tasks/glue/glue.h"
#include "tokenize/tokenizer.h"
#include "train/data.h"

namespace lth::tasks::glue {

// The split a task is evaluated on by default: "dev" or MNLI's "dev_matched", else its first split.
std::string default_split(const TaskSpec& spec);

// One split's examples: `file` when given, else `data`/<split file> (the task's own folder) when it
// exists, else the GLUE root layout under `data`.
std::vector<Example> read_examples(const TaskSpec& spec, const std::string& split, const std::string& data,
                                   const std::string& file);

// Features in example order (labels/targets set where the examples have them). `training`: an
// unlabelled example is an IoError.
std::vector<train::Feature> featurize(const TaskSpec& spec, const std::vector<Example>& examples,
                                      const tokenize::Tokenizer& tok, int64_t max_length, bool training);

// {"task", "split", "examples"} plus every metric of the task when the examples are labelled.
// `predicted` (classification) or `scores` (regression) hold one value per example.
nlohmann::json score(const TaskSpec& spec, const std::string& split, const std::vector<Example>& examples,
                     const std::vector<int>& predicted, const std::vector<double>& scores);

}  // namespace lth::tasks::glue
