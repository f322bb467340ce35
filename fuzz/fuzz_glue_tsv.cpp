// GLUE TSV: the first byte picks a task and split (every layout gets fuzzed), the rest is the file.
#include "fuzz/fuzz_common.h"
#include "tasks/glue/glue.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  namespace glue = lth::tasks::glue;
  std::vector<std::pair<const glue::TaskSpec*, const glue::SplitSpec*>> layouts;
  for (const auto& task : glue::all_tasks())
    for (const auto& split : task.splits) layouts.emplace_back(&task, &split);
  const auto& [task, split] = layouts[data[0] % layouts.size()];
  const std::string& path = lth::fuzz::input_path(split->file.c_str());
  lth::fuzz::write_input(path, data + 1, size - 1);
  lth::fuzz::expect_clean(path, [&, task = task, split = split] {
    glue::ReadOptions options;
    options.skip_malformed_rows = (data[0] / layouts.size()) % 2 == 1;
    (void)glue::read_tsv(*task, *split, path, options);
  });
  return 0;
}
