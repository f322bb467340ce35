// The pieces of one optimizer step of the training loop (train::train, whatever train::Trainee it
// trains): forward/backward under a precision, gradients masked before clipping, the AdamW step,
// and the masked weights zeroed again after it, so that weight decay and stale moments cannot
// revive a pruned weight.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "model/bert.h"
#include "prune/mask.h"

namespace lth::train {

class AdamW;  // train/adamw.h

// Runs `fn` with bf16 autocast enabled on CPU when precision == "bf16".
void with_precision(const std::string& precision, const std::function<void()>& fn);

// A mask's tensors on the training device as float32 (0/1), by parameter name; empty without a mask.
prune::NamedTensors masks_on_device(const prune::Mask* mask, const c10::Device& device);

// After the backward passes: the gradient of each of `bert`'s masked parameters multiplied by its
// mask, then the gradients of `parameters` (all the trained ones) clipped to a global norm of
// `max_grad_norm` (<= 0: no clipping).
void mask_and_clip_gradients(model::Bert& bert, const prune::NamedTensors& masks,
                             const std::vector<at::Tensor>& parameters, double max_grad_norm);

// Scales the gradients of `parameters` so that their global 2-norm is at most `max_norm`, as
// torch::nn::utils::clip_grad_norm_ does (the same ops, so the same bits), also for sparse
// gradients (coalesced first); returns the norm before clipping.
double clip_grad_norm(const std::vector<at::Tensor>& parameters, double max_norm);

// One AdamW update at `lr`, the gradients zeroed, and `bert`'s masked weights set to exactly 0 again.
void optimizer_step(AdamW& optimizer, double lr, model::Bert& bert, const prune::NamedTensors& masks);

}  // namespace lth::train
