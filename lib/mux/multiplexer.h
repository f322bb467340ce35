// Multiplexers (DataMUX): mix the embedded sequences of N instances into one sequence, so that one
// encoder pass serves N inputs. The mixing vectors/matrices are fixed random draws that belong to the
// model: they are registered buffers (saved in mux.safetensors), never re-drawn when a model is loaded.
#pragma once

#include <cstdint>
#include <string>

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace lth::mux {

enum class MuxKind {
  kHadamard,    // h_i ⊙ v_i, v_i ~ N(0, I) L2-normalised then scaled by `norm`; MEAN over the N instances
  kOrthogonal,  // h_i W_i, W_i a random orthogonal d×d matrix (Haar, via QR); SUM / √N
  kBinary,      // h_i ⊙ m_i, m_i the 0/1 indicator of instance i's chunk of the hidden dim; SUM
};
// "hadamard" | "ortho" | "binary"; throws ConfigError naming the value.
MuxKind mux_kind_from_name(const std::string& name);
const char* mux_kind_name(MuxKind kind);

struct MultiplexerOptions {
  MultiplexerOptions(int64_t n, int64_t hidden) : n_(n), hidden_(hidden) {}
  TORCH_ARG(int64_t, n);
  TORCH_ARG(int64_t, hidden);
  TORCH_ARG(MuxKind, kind) = MuxKind::kHadamard;
  // Hadamard: the L2 norm of each v_i; 0 = √hidden (entries of unit scale, as an unnormalised N(0, 1) draw).
  TORCH_ARG(double, norm) = 0.0;
  // Seed of the draw. Ignored when `draw` is false (the buffers are zeros, to be loaded from a file).
  TORCH_ARG(uint64_t, seed) = 0;
  TORCH_ARG(bool, draw) = true;
};

class MultiplexerImpl : public torch::nn::Module {
 public:
  explicit MultiplexerImpl(MultiplexerOptions options);

  // x [G, N, L, H] (group g, instance i) -> [G, L, H]. ShapeError on any other shape.
  at::Tensor forward(const at::Tensor& x);
  // The per-instance adjoint, [G, L, H] -> [G, N, L, H], scaled so that inverse(forward(x)) == x
  // whenever the mixed instances do not overlap: always for N = 1; for N > 1 when instance i's mixed
  // signal lies in a subspace of its own (binary: always, on each instance's own chunk).
  at::Tensor inverse(const at::Tensor& y);

  const MultiplexerOptions& options() const { return options_; }
  // The mixing tensor: vectors [N, H] (Hadamard), matrices [N, H, H] (orthogonal), masks [N, H] (binary).
  const at::Tensor& weights() const { return weights_; }
  // Instance i's chunk [begin, end) of the hidden dimension (binary mux).
  std::pair<int64_t, int64_t> chunk(int64_t i) const;

 private:
  MultiplexerOptions options_;
  at::Tensor weights_;
};
TORCH_MODULE(Multiplexer);

}  // namespace lth::mux
