#!/usr/bin/env python3
"""Writes the AdamW fixture of tests/train/test_trainer.cpp: five steps of torch.optim.AdamW.

usage: .venv/bin/python scripts/gen-adamw-fixture.py [OUT_DIR]   (default: tests/fixtures/adamw)

OUT_DIR/adamw.safetensors holds, per parameter NAME, float32:
  init.NAME                  the parameter before the first step
  grad.S.NAME                its gradient at step S (1..5); absent: no gradient at that step
  param.S.NAME               the parameter after step S (torch.optim.AdamW, single-tensor path)
  exp_avg.S.NAME, exp_avg_sq.S.NAME   AdamW's moments after step S (when the parameter has state)
OUT_DIR/adamw.json holds the hyper-parameters, the learning rate of each step, each parameter's
shape, whether it is decayed (Hugging Face's rule: not biases, not LayerNorm), whether lth should
hold it as a non-contiguous tensor, and the torch version that made the file.

Weight decay is per parameter group in torch: decayed parameters in one group, the rest in a group
with weight_decay 0, as transformers' Trainer builds them. The learning rate changes every step
(set on both groups before the step), as a schedule does.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

STEPS = 5
LRS = [1e-2, 2e-2, 5e-3, 1e-2, 3e-2]
BETAS = (0.9, 0.999)
EPS = 1e-8
WEIGHT_DECAY = 0.05


def decays(name):
    return not (name.endswith(".bias") or "LayerNorm." in name or name.endswith("LayerNorm.weight"))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests",
                                                                   "fixtures", "adamw")
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(14)
    # Sizes around the SIMD widths (8 and 16 floats) of lth's fused update; decayed and undecayed.
    specs = []  # (name, shape, gradient kind, strided)
    for n in (1, 7, 16, 33, 257):
        specs.append((f"w{n}", (n,), "random", False))
        specs.append((f"layer.LayerNorm.weight{n}", (n,), "random", False))
    specs.append(("dense.bias", (5,), "random", False))
    specs.append(("zero_grad", (9,), "zero", False))  # only decays
    specs.append(("no_grad", (4,), "none", False))  # never stepped
    specs.append(("strided", (4, 6), "random", True))  # lth holds it transposed: the op-by-op path

    params = {name: torch.randn(shape) for name, shape, _, _ in specs}
    tensors = {f"init.{name}": p.clone() for name, p in params.items()}
    decayed = [params[n] for n, _, _, _ in specs if decays(n)]
    undecayed = [params[n] for n, _, _, _ in specs if not decays(n)]
    for p in params.values():
        p.requires_grad_(True)
    opt = torch.optim.AdamW([{"params": decayed, "weight_decay": WEIGHT_DECAY},
                             {"params": undecayed, "weight_decay": 0.0}],
                            lr=LRS[0], betas=BETAS, eps=EPS, foreach=False, fused=False)
    for step in range(1, STEPS + 1):
        for name, shape, kind, _ in specs:
            p = params[name]
            if kind == "none":
                p.grad = None
                continue
            g = torch.zeros(shape) if kind == "zero" else torch.randn(shape)
            p.grad = g
            tensors[f"grad.{step}.{name}"] = g.clone()
        for group in opt.param_groups:
            group["lr"] = LRS[step - 1]
        opt.step()
        for name, _, _, _ in specs:
            p = params[name]
            tensors[f"param.{step}.{name}"] = p.detach().clone()
            state = opt.state.get(p, {})
            if "exp_avg" in state:
                tensors[f"exp_avg.{step}.{name}"] = state["exp_avg"].clone()
                tensors[f"exp_avg_sq.{step}.{name}"] = state["exp_avg_sq"].clone()

    path = os.path.join(out_dir, "adamw.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, path,
              metadata={"generator": "scripts/gen-adamw-fixture.py", "torch": torch.__version__})
    os.chmod(path, 0o644)
    meta = {"generator": "scripts/gen-adamw-fixture.py", "torch": torch.__version__, "steps": STEPS, "lrs": LRS,
            "beta1": BETAS[0], "beta2": BETAS[1], "eps": EPS, "weight_decay": WEIGHT_DECAY,
            "parameters": [{"name": n, "shape": list(s), "decays": decays(n), "strided": strided, "gradient": kind}
                           for n, s, kind, strided in specs]}
    with open(os.path.join(out_dir, "adamw.json"), "w") as f:
        json.dump(meta, f, indent=None)
        f.write("\n")


if __name__ == "__main__":
    main()
