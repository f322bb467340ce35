#!/usr/bin/env python3
"""The peer: a plain PyTorch + transformers fine-tuning loop of the kind users write, on GLUE SST-2.

BertForSequenceClassification from a Hugging Face directory, AdamW, linear schedule with warmup,
gradient clipping, random batches with dynamic padding (what DataCollatorWithPadding does), fp32 or
bf16 autocast, then evaluation on the dev file. Prints one JSON object (examples/s for training and
evaluation, dev accuracy, peak RSS). Run it with the project venv:

  .venv/bin/python bench/peer/finetune.py --model data/bert-tiny --data ../shared/data/glue/SST-2 \
      --train /tmp/train-1536.tsv --steps 48 --threads 2 --padding grouped --precision fp32

Batching modes (--padding), chosen to match lth's (lib/train/data.cpp):
  random   shuffled batches padded to their longest row (the usual DataLoader + collator);
  grouped  lth's length grouping: shuffle, sort mega-batches of 50 batches by length (descending),
           cut into batches, shuffle the batches; each padded to its longest row (like
           transformers' group_by_length); with at most 50 batches of examples (one mega-batch) and
           steps = examples / batch, the padded shapes are exactly lth's;
  pad128   every batch padded to --max-length (lth --pad-to-max-length).
Timing matches lth finetune's: from the first batch to the last optimizer step (collation, forward,
backward, clipping, optimizer and a loss.item() per step), tokenisation before it. Evaluation is
timed like lth eval's: reading and tokenising dev.tsv, the forward passes and the metric.
"""
import argparse
import json
import os
import random
import resource
import sys
import time


def read_tsv(path, limit=0):
    """GLUE SST-2 layout: a header, then sentence<TAB>label."""
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline()
        if not header.startswith("sentence"):
            sys.exit(f"{path}: expected an SST-2 header 'sentence<TAB>label'")
        for n, line in enumerate(f, start=2):
            line = line.rstrip("\n")
            if not line:
                continue
            cols = line.split("\t")
            if len(cols) != 2:
                sys.exit(f"{path}:{n}: expected 2 tab-separated columns, got {len(cols)}")
            rows.append((cols[0], int(cols[1])))
            if limit and len(rows) >= limit:
                break
    return rows


def epoch_batches(lengths, batch_size, rng, group):
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group:
        mega = batch_size * 50
        for start in range(0, len(order), mega):
            order[start:start + mega] = sorted(order[start:start + mega], key=lambda i: -lengths[i])
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    if group:
        rng.shuffle(batches)
    return batches


def collate(torch, feats, indices, pad_id, pad_to=0, labels=None):
    length = max([pad_to] + [len(feats[i]) for i in indices])
    ids = torch.full((len(indices), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(indices), length), dtype=torch.long)
    for r, i in enumerate(indices):
        f = feats[i]
        ids[r, :len(f)] = torch.tensor(f, dtype=torch.long)
        mask[r, :len(f)] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    if labels is not None:
        batch["labels"] = torch.tensor([labels[i] for i in indices], dtype=torch.long)
    return batch


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="Hugging Face checkpoint directory (weights + vocab)")
    p.add_argument("--data", required=True, help="GLUE SST-2 folder (train.tsv, dev.tsv)")
    p.add_argument("--train", help="training TSV (default: DATA/train.tsv)")
    p.add_argument("--max-train-examples", type=int, default=0, help="first N training rows (0 = all)")
    p.add_argument("--steps", type=int, default=30, help="optimizer steps (0 = evaluation only)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--warmup", type=int, default=0, help="linear warmup steps")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=57)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--padding", choices=["random", "grouped", "pad128"], default="random")
    p.add_argument("--attn", choices=["eager", "sdpa"], default="sdpa", help="attn_implementation")
    p.add_argument("--fused-adamw", action="store_true", help="torch.optim.AdamW(fused=True)")
    p.add_argument("--eval-batch-size", type=int, default=128)
    p.add_argument("--eval-order", choices=["sorted", "file"], default="sorted",
                   help="sorted: by length, longest first (lth eval's batches); file: in file order")
    p.add_argument("--eval-pad128", action="store_true", help="pad evaluation batches to --max-length")
    p.add_argument("--no-eval", action="store_true")
    p.add_argument("--profile", help="write a torch.profiler per-op table (self CPU time) here")
    p.add_argument("--profile-steps", type=int, default=10, help="profile the last N training steps")
    a = p.parse_args()

    import torch
    import transformers
    from transformers import AutoTokenizer, BertForSequenceClassification, get_linear_schedule_with_warmup

    torch.set_num_threads(a.threads)
    random.seed(a.seed)
    torch.manual_seed(a.seed)
    transformers.logging.set_verbosity_error()
    tok = AutoTokenizer.from_pretrained(a.model)
    model = BertForSequenceClassification.from_pretrained(a.model, num_labels=2, attn_implementation=a.attn)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.precision == "bf16" else None
    import contextlib
    ctx = autocast if autocast else contextlib.nullcontext
    pad_to = a.max_length if a.padding == "pad128" else 0
    out = {"tool": "peer", "torch": torch.__version__, "transformers": transformers.__version__,
           "model": a.model, "precision": a.precision, "padding": a.padding, "attn": a.attn,
           "threads": a.threads, "batch_size": a.batch_size, "max_length": a.max_length}

    prof = None
    if a.steps > 0:
        rows = read_tsv(a.train or os.path.join(a.data, "train.tsv"), a.max_train_examples)
        enc = tok([r[0] for r in rows], truncation=True, max_length=a.max_length)
        feats = enc["input_ids"]
        labels = [r[1] for r in rows]
        lengths = [len(f) for f in feats]
        params = model.parameters()
        opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=a.weight_decay,
                                **({"fused": True} if a.fused_adamw else {}))
        sched = get_linear_schedule_with_warmup(opt, a.warmup, a.steps)
        rng = random.Random(a.seed)
        steps_per_epoch = max(1, -(-len(feats) // a.batch_size))  # ceil, like lth
        model.train()
        tokens = real = 0
        batches = []
        # The phases of lth finetune --profile: data, forward, backward, clip, optimizer.
        phases = dict.fromkeys(("data", "forward", "backward", "clip", "optimizer"), 0.0)
        start = time.perf_counter()
        for step in range(a.steps):
            if step % steps_per_epoch == 0:
                batches = epoch_batches(lengths, a.batch_size, rng, a.padding == "grouped")
            if a.profile and step == a.steps - a.profile_steps:
                from torch.profiler import ProfilerActivity, profile
                prof = profile(activities=[ProfilerActivity.CPU], record_shapes=True)
                prof.__enter__()
                prof_start = time.perf_counter()
            t0 = time.perf_counter()
            batch = collate(torch, feats, batches[step % steps_per_epoch], tok.pad_token_id, pad_to, labels)
            tokens += batch["input_ids"].numel()
            real += int(batch["attention_mask"].sum())
            t1 = time.perf_counter()
            with ctx():
                loss = model(**batch).loss
            t2 = time.perf_counter()
            loss.backward()
            loss.item()
            t3 = time.perf_counter()
            if a.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), a.max_grad_norm)
            t4 = time.perf_counter()
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            t5 = time.perf_counter()
            for name, d in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                phases[name] += d
        seconds = time.perf_counter() - start
        if prof is not None:
            prof_seconds = time.perf_counter() - prof_start
            prof.__exit__(None, None, None)
        out.update({"steps": a.steps, "train_examples": len(feats), "train_seconds": seconds,
                    "train_examples_per_s": a.steps * a.batch_size / seconds,
                    "mean_padded_length": tokens / (a.steps * a.batch_size),
                    "mean_real_length": real / (a.steps * a.batch_size), "last_loss": loss.item(),
                    "phase_ms_per_step": {k: 1e3 * x / a.steps for k, x in phases.items()}})

    if not a.no_eval:
        model.eval()
        start = time.perf_counter()
        dev = read_tsv(os.path.join(a.data, "dev.tsv"))
        feats = tok([r[0] for r in dev], truncation=True, max_length=a.max_length)["input_ids"]
        order = list(range(len(feats)))
        if a.eval_order == "sorted":
            order.sort(key=lambda i: -len(feats[i]))  # stable, like lth's eval_batches
        predicted = [0] * len(feats)
        with torch.inference_mode(), ctx():
            for s in range(0, len(order), a.eval_batch_size):
                idx = order[s:s + a.eval_batch_size]
                batch = collate(torch, feats, idx, tok.pad_token_id, a.max_length if a.eval_pad128 else 0)
                pred = model(**batch).logits.argmax(-1).tolist()
                for i, y in zip(idx, pred):
                    predicted[i] = y
        correct = sum(int(y == r[1]) for y, r in zip(predicted, dev))
        seconds = time.perf_counter() - start
        out.update({"eval_examples": len(dev), "eval_seconds": seconds, "eval_examples_per_s": len(dev) / seconds,
                    "dev_accuracy": correct / len(dev)})

    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if prof is not None:
        n = a.profile_steps
        table = prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=40)
        ops = []
        for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total):
            ops.append({"op": e.key, "self_ms_per_step": e.self_cpu_time_total / 1e3 / n, "calls_per_step": e.count / n})
        total = sum(e.self_cpu_time_total for e in prof.key_averages()) / 1e3 / n
        with open(a.profile, "w", encoding="utf-8") as f:
            f.write(f"# {n} steps, wall {1e3 * prof_seconds / n:.2f} ms/step, self CPU total {total:.2f} ms/step\n")
            f.write(json.dumps({"wall_ms_per_step": 1e3 * prof_seconds / n, "self_cpu_ms_per_step": total, "ops": ops}) + "\n")
            f.write(table + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
