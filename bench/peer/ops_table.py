#!/usr/bin/env python3
"""Where each training millisecond goes, lth against the peer: per-step self time by kind of operator,
from `lth finetune --profile-ops FILE` (Markdown) and `finetune.py --profile FILE` (torch.profiler).
Usage: bench/peer/ops_table.py LABEL LTH_OPS.md PEER_PROFILE.txt [LABEL LTH PEER ...]"""
import json
import re
import sys

# (kind, pattern over the operator name without "aten::"); the first match wins.
KINDS = [
    ("GEMM (mm, addmm, bmm, matmul, linear)", r"^(mm|addmm_?|bmm|baddbmm|matmul|linear|mkldnn_.*|_mkldnn.*)$"),
    ("attention (softmax, SDPA)", r"^(_?softmax|_softmax_backward_data|_safe_softmax|_scaled_dot_product.*|scaled_dot_product.*)$"),
    ("LayerNorm", r"^(native_)?layer_norm(_backward)?$"),
    ("GELU", r"^gelu(_backward)?$"),
    ("dropout (LibTorch's)", r"^(bernoulli_|native_dropout.*|dropout|feature_dropout)$"),
    ("loss", r"^(cross_entropy.*|_?log_softmax.*|nll_loss.*)$"),
    ("autograd nodes and engine", r"(Backward\d*$|^autograd::|^torch::autograd::)"),
    ("copies, views, allocation", r"^(copy_|clone|contiguous|cat|_to_copy|to|reshape|view|_reshape_alias|_unsafe_view|permute|"
                                  r"transpose|t|as_strided|select|slice|expand|unsqueeze|squeeze|split|split_with_sizes|"
                                  r"resolve_conj|resolve_neg|detach|detach_|alias|empty.*|zeros.*|ones.*|fill_|zero_|"
                                  r"narrow|index_select|embedding.*|index|arange|lift_fresh|_sparse_coo.*|_coalesce|"
                                  r"coalesce|sparse_.*|_indices|_values|new_.*|full.*|stack|chunk|unbind|set_)$"),
    ("elementwise and reductions", r"^(_foreach_.*|add_?|mul_?|div_?|sub_?|rsub|sum|mean|sqrt|addcdiv_|addcmul_|lerp_|pow|"
                                   r"norm|linalg_vector_norm|clamp.*|where|masked_fill_?|exp|tanh.*|neg|reciprocal|"
                                   r"abs|max|min|sort|argmax|eq|ne|lt|gt|ge|le|item|_local_scalar_dense|isinf|isnan|"
                                   r"nonzero|sign|maximum|minimum|sqrt_|mul_out|add_out)$"),
]


def kind_of(op):
    name = op[len("aten::"):] if op.startswith("aten::") else op
    for kind, pattern in KINDS:
        if re.search(pattern, name):
            return kind
    return "other"


def read_lth(path):
    text = open(path, encoding="utf-8").read()
    m = re.search(r"over (\d+) steps: ([0-9.]+) ms/step inside operators of ([0-9.]+) ms/step wall", text)
    ops = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] != "operator" and not cells[0].startswith("-"):
            ops[cells[0]] = float(cells[2])
    return float(m.group(3)), float(m.group(2)), ops


def read_peer(path):
    with open(path, encoding="utf-8") as f:
        f.readline()
        j = json.loads(f.readline())
    return j["wall_ms_per_step"], j["self_cpu_ms_per_step"], {o["op"]: o["self_ms_per_step"] for o in j["ops"]}


def by_kind(ops):
    out = {}
    for op, ms in ops.items():
        out[kind_of(op)] = out.get(kind_of(op), 0.0) + ms
    return out


def main(args):
    if len(args) < 3 or len(args) % 3:
        sys.exit(__doc__)
    configs = [(args[i], read_lth(args[i + 1]), read_peer(args[i + 2])) for i in range(0, len(args), 3)]
    kinds = [k for k, _ in KINDS] + ["other"]
    head = "| ms per training step | " + " | ".join(f"{label} lth | {label} peer" for label, _, _ in configs) + " |"
    print(head)
    print("|---|" + "---:|---:|" * len(configs))
    rows = {k: [] for k in kinds}
    for _, (lw, lo, lops), (pw, po, pops) in configs:
        lk, pk = by_kind(lops), by_kind(pops)
        for k in kinds:
            rows[k] += [lk.get(k, 0.0), pk.get(k, 0.0)]
    for k in kinds:
        print(f"| {k} | " + " | ".join(f"{v:.1f}" for v in rows[k]) + " |")
    print("| inside operators, all | " + " | ".join(f"{lo:.1f} | {po:.1f}" for _, (_, lo, _), (_, po, _) in configs) + " |")
    print("| outside operators (wall − inside) | " +
          " | ".join(f"{max(0.0, lw - lo):.1f} | {max(0.0, pw - po):.1f}" for _, (lw, lo, _), (pw, po, _) in configs) + " |")
    print("| **wall** | " + " | ".join(f"**{lw:.1f}** | **{pw:.1f}**" for _, (lw, _, _), (pw, _, _) in configs) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
