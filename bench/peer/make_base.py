#!/usr/bin/env python3
"""Writes a randomly initialised BERT-base-shaped checkpoint (throughput only) as a Hugging Face
directory that both lth and transformers load: config.json, model.safetensors, vocab.txt,
tokenizer_config.json. Usage: .venv/bin/python bench/peer/make_base.py BERT_CONFIG.json VOCAB.txt OUT"""
import json
import os
import shutil
import sys

if len(sys.argv) != 4:
    sys.exit(__doc__)
bert_config, vocab, out = sys.argv[1:]
import torch
from transformers import BertConfig, BertForSequenceClassification

with open(bert_config, encoding="utf-8") as f:
    cfg = BertConfig(**json.load(f), num_labels=2)
torch.manual_seed(0)
tmp = out + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)
BertForSequenceClassification(cfg).save_pretrained(tmp)
shutil.copy(vocab, os.path.join(tmp, "vocab.txt"))
with open(os.path.join(tmp, "tokenizer_config.json"), "w", encoding="utf-8") as f:
    json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer", "model_max_length": 512}, f)
shutil.rmtree(out, ignore_errors=True)
os.rename(tmp, out)
print(out)
