"""Python is a real client of what lth writes (and lth of what transformers writes), with today's
safetensors, transformers, scipy and torch from the project venv. Run by ctest (label e2e):

    .venv/bin/python tests/python/test_client.py     # LTH_BINARY, LTH_SHARED set by ctest

Tiny runs on ../shared's tiny BERT (--steps 2, --precision fp32, one thread):
  * a fine-tuned checkpoint loads in transformers: same dev predictions (so accuracy) as `lth eval`,
    logits within 1e-5 of `lth forward`;
  * a masked checkpoint (`lth mask apply`): pruned weights exactly 0 in safetensors and transformers;
  * mask files: readable, U8 0/1, names and shapes those of the model's state dict;
  * `lth export --sparse`: the CSR tensors, rebuilt with scipy and with torch.sparse_csr, equal the
    dense masked weights; with model.safetensors they hold every weight exactly once;
  * `lth report --format json`: parses and has the fields docs/FORMATS.md lists;
  * lth loads transformers' `save_pretrained` output, sharded safetensors included (max_shard_size
    small), with outputs within 1e-5 of transformers.
"""
import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoTokenizer, BertForSequenceClassification, BertModel  # noqa: E402

transformers.utils.logging.disable_progress_bar()
torch.set_num_threads(1)

LTH = os.environ.get("LTH_BINARY", "")
SHARED = Path(os.environ.get("LTH_SHARED", Path(__file__).resolve().parents[2] / ".." / "shared")).resolve()
TINY = SHARED / "fixtures" / "hf-bert" / "model"
SST2 = SHARED / "data" / "glue" / "SST-2"
MAX_LEN = 32
QUICK = ["--threads", "1", "--max-length", str(MAX_LEN)]
TRAIN = QUICK + ["--task", "glue/sst2", "--data", str(SST2), "--steps", "2", "--precision", "fp32",
                 "--max-train-examples", "64", "--batch-size", "16", "--lr", "1e-3"]


def lth(*args):
    cmd = [LTH, *map(str, args)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{shlex.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r.stdout


def sst2_dev():
    with open(SST2 / "dev.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r[0] for r in rows[1:]], [int(r[1]) for r in rows[1:]]


def hf_logits(model, tok, texts, batch=64):
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            enc = tok(texts[i:i + batch], truncation=True, max_length=MAX_LEN, padding=True, return_tensors="pt")
            out.append(model(**enc).logits)
    return torch.cat(out)


def lth_forward(model_dir, enc, work):
    inputs = {k: enc[k].tolist() for k in ("input_ids", "attention_mask", "token_type_ids")}
    (work / "in.json").write_text(json.dumps(inputs))
    lth("forward", "--threads", "1", "--model", model_dir, "--inputs", work / "in.json", "--out", work / "out.safetensors")
    return load_file(str(work / "out.safetensors"))


def eager(cls, path):
    m = cls.from_pretrained(str(path), attn_implementation="eager", dtype=torch.float32)
    m.eval()
    return m


@unittest.skipUnless(LTH and Path(LTH).exists(), "LTH_BINARY is not set to the lth binary (run through ctest)")
class Client(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="tmp-pyclient-", dir=os.getcwd()))
        # One fine-tuning run, one IMP run (one pruned level, no baselines), its report.
        cls.ft = cls.tmp / "ft"
        lth("finetune", "--model", TINY, *TRAIN, "--out", cls.ft)
        runs = cls.tmp / "runs"
        out = lth("prune", "--model", TINY, *TRAIN, "--levels", "1", "--rate", "0.7", "--out", runs)
        cls.run_dir = Path(out.strip().splitlines()[-1])
        cls.mask = cls.run_dir / "level_1" / "mask.safetensors"
        cls.masked = cls.tmp / "masked"
        lth("mask", "apply", "--mask", cls.mask, "--model", cls.run_dir / "level_1" / "model", "--out", cls.masked)
        cls.sparse = cls.tmp / "sparse"
        lth("export", "--sparse", "--pack-all", "--model", cls.masked, "--out", cls.sparse)
        cls.report = cls.tmp / "report.json"
        lth("report", runs, "--format", "json", "--out", cls.report)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_finetuned_checkpoint_in_transformers(self):
        model_dir = self.ft / "model"
        with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
            keys = set(f.keys())
        model = eager(BertForSequenceClassification, model_dir)
        self.assertEqual(keys, set(model.state_dict().keys()) - {"bert.embeddings.position_ids"})
        tok = AutoTokenizer.from_pretrained(str(model_dir))
        texts, labels = sst2_dev()
        logits = hf_logits(model, tok, texts)
        hf_pred = logits.argmax(-1).tolist()
        hf_acc = float(np.mean(np.array(hf_pred) == np.array(labels)))
        preds = self.tmp / "pred.tsv"
        metrics = json.loads(lth("eval", "--model", model_dir, "--task", "glue/sst2", "--data", SST2, "--precision",
                                 "fp32", "--predictions", preds, *QUICK).strip().splitlines()[-1])
        with open(preds, newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))[1:]
        lth_pred = [model.config.label2id.get(r[1], None) if r[1] in model.config.label2id else int(r[1]) for r in rows]
        self.assertEqual(len(lth_pred), len(texts))
        self.assertEqual(lth_pred, hf_pred, "dev predictions of lth eval and transformers differ")
        self.assertAlmostEqual(metrics["accuracy"], hf_acc, places=9)
        # Logits of 48 dev sentences, through lth forward on the same token ids.
        enc = tok(texts[:48], truncation=True, max_length=MAX_LEN, padding=True, return_tensors="pt")
        got = lth_forward(model_dir, enc, self.tmp)["logits"]
        self.assertLessEqual(float((got - logits[:48]).abs().max()), 1e-5)
        print(f"[pyclient] fine-tuned: dev accuracy {hf_acc:.4f} in both, {len(texts)} predictions equal, "
              f"max |logit diff| {float((got - logits[:48]).abs().max()):.2e}", file=sys.stderr)

    def test_mask_file(self):
        model = eager(BertForSequenceClassification, self.run_dir / "level_1" / "model")
        state = model.state_dict()
        with safe_open(str(self.mask), "pt") as f:
            meta = f.metadata()
            names = list(f.keys())
            self.assertEqual(meta["format"], "lth-mask")
            self.assertEqual(meta["format_version"], "1")
            for key in ("base_fingerprint", "task", "level", "sparsity", "strategy", "config_hash"):
                self.assertIn(key, meta)
            self.assertTrue(names)
            pruned = total = 0
            for n in names:
                m = f.get_tensor(n)
                self.assertIn(n, state)
                self.assertEqual(tuple(m.shape), tuple(state[n].shape), n)
                self.assertEqual(m.dtype, torch.uint8, n)
                self.assertTrue(bool(((m == 0) | (m == 1)).all()), n)
                pruned += int((m == 0).sum())
                total += m.numel()
        self.assertAlmostEqual(pruned / total, float(meta["sparsity"]), places=4)

    def test_masked_checkpoint_has_exact_zeros(self):
        model = eager(BertForSequenceClassification, self.masked)
        state = model.state_dict()
        raw = load_file(str(self.masked / "model.safetensors"))
        masks = load_file(str(self.mask))
        zeros = 0
        for n, m in masks.items():
            off = m == 0
            self.assertTrue(bool((raw[n][off] == 0).all()), n)
            self.assertTrue(bool((state[n][off] == 0).all()), n)
            zeros += int(off.sum())
        self.assertGreater(zeros, 0)

    def test_sparse_export_rebuilds_the_dense_weights(self):
        dense = load_file(str(self.masked / "model.safetensors"))
        kept = load_file(str(self.sparse / "model.safetensors"))
        with safe_open(str(self.sparse / "sparse.safetensors"), "pt") as f:
            self.assertEqual(f.metadata()["format"], "lth-sparse-csr")
            packed = sorted({k.rsplit(".", 1)[0] for k in f.keys()})
            self.assertTrue(packed)
            for n in packed:
                row_ptr, col_idx = f.get_tensor(n + ".row_ptr"), f.get_tensor(n + ".col_idx")
                values, shape = f.get_tensor(n + ".values"), f.get_tensor(n + ".shape").tolist()
                self.assertEqual(row_ptr.dtype, torch.int32)
                self.assertEqual(col_idx.dtype, torch.int32)
                self.assertEqual(values.dtype, torch.float32)
                want = dense[n].numpy()
                self.assertEqual(list(want.shape), shape, n)
                csr = scipy.sparse.csr_matrix((values.numpy(), col_idx.numpy(), row_ptr.numpy()), shape=shape)
                self.assertTrue(np.array_equal(csr.toarray(), want), n)
                t = torch.sparse_csr_tensor(row_ptr.long(), col_idx.long(), values, size=shape,
                                            check_invariants=True).to_dense()
                self.assertTrue(torch.equal(t, dense[n]), n)
                self.assertEqual(int(row_ptr[-1]), int(np.count_nonzero(want)), n)
                self.assertNotIn(n, kept)
        self.assertEqual(set(kept) | set(packed), set(dense))

    def test_report_json_has_the_documented_fields(self):
        r = json.loads(self.report.read_text())
        for key in ("schema", "generator", "runs", "groups", "similarity", "transfer", "warnings"):
            self.assertIn(key, r)
        self.assertEqual(r["schema"], 1)
        self.assertEqual(len(r["runs"]), 1)
        for key in ("path", "task", "metric", "config_hash", "seed", "group", "levels"):
            self.assertIn(key, r["runs"][0])
        g = r["groups"][0]
        for key in ("label", "task", "metric", "runs", "seeds", "config_hashes", "dense", "levels", "baselines",
                    "sparsest_matching_level", "matrices", "overlap"):
            self.assertIn(key, g)
        for key in ("n", "mean", "std", "values"):
            self.assertIn(key, g["dense"])
        self.assertEqual([lv["level"] for lv in g["levels"]], [0, 1])
        for key in ("level", "sparsity", "metric", "delta", "matching"):
            self.assertIn(key, g["levels"][1])
        self.assertIsNone(g["levels"][1]["matching"])  # one dense seed: no std, matching undecided
        self.assertIsNone(r["transfer"])

    def test_lth_loads_save_pretrained_including_sharded(self):
        src = eager(BertForSequenceClassification, TINY)
        tok = AutoTokenizer.from_pretrained(str(TINY))
        texts, _ = sst2_dev()
        enc = tok(texts[:16], truncation=True, max_length=MAX_LEN, padding=True, return_tensors="pt")
        with torch.no_grad():
            want = src(**enc, output_hidden_states=True)
        for shard in ("10GB", "40KB"):
            out = self.tmp / f"saved-{shard}"
            src.save_pretrained(str(out), max_shard_size=shard)
            tok.save_pretrained(str(out))
            shards = sorted(p.name for p in out.glob("model*.safetensors"))
            if shard == "40KB":
                self.assertGreater(len(shards), 1)
                self.assertTrue((out / "model.safetensors.index.json").exists())
            else:
                self.assertEqual(shards, ["model.safetensors"])
            work = self.tmp / f"fwd-{shard}"
            work.mkdir()
            got = lth_forward(out, enc, work)
            self.assertLessEqual(float((got["logits"] - want.logits).abs().max()), 1e-5, shard)
            for k, h in enumerate(want.hidden_states):
                self.assertLessEqual(float((got[f"hidden_states.{k}"] - h).abs().max()), 1e-5, f"{shard} h{k}")
            print(f"[pyclient] save_pretrained(max_shard_size={shard}): {len(shards)} file(s), lth forward within 1e-5",
                  file=sys.stderr)
        # A plain encoder (keys without the "bert." prefix, as BertModel saves them).
        base = eager(BertModel, TINY)
        out = self.tmp / "saved-base"
        base.save_pretrained(str(out), max_shard_size="40KB")
        tok.save_pretrained(str(out))
        work = self.tmp / "fwd-base"
        work.mkdir()
        got = lth_forward(out, enc, work)
        with torch.no_grad():
            ref = base(**enc)
        self.assertLessEqual(float((got["last_hidden_state"] - ref.last_hidden_state).abs().max()), 1e-5)
        self.assertLessEqual(float((got["pooler_output"] - ref.pooler_output).abs().max()), 1e-5)


if __name__ == "__main__":
    print(f"[pyclient] transformers {transformers.__version__}, torch {torch.__version__}", file=sys.stderr)
    unittest.main(verbosity=2)
