// Precompiled header shared by all LibTorch-using targets. Only stable third-party headers here.
#pragma once
#include <torch/torch.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <vector>
