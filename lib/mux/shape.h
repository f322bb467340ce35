// "[2, 3, 4]" for error messages (fmt has no formatter for at::IntArrayRef).
#pragma once

#include <string>

#include <ATen/core/Tensor.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace lth::mux {

inline std::string shape_str(at::IntArrayRef sizes) { return fmt::format("[{}]", fmt::join(sizes, ", ")); }
inline std::string shape_str(const at::Tensor& t) { return t.defined() ? shape_str(t.sizes()) : "undefined"; }

}  // namespace lth::mux
