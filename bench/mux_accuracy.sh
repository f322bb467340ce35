#!/usr/bin/env bash
# Accuracy x throughput of multiplexing on one model: for each N, `lth mux train` (retrieval
# warm-up on raw text, then SST-2 fine-tuning with the same budget: same instances per step, same
# steps), then one `lth mux bench --runs` over the same N values measured side by side. Usage (from the
# repository root):
#   bench/mux_accuracy.sh MODEL_DIR OUT_DIR [MASK]
# Environment: NS ("1 2 5 10"), WARMUP_STEPS (600), WARMUP_LR (2e-3), WARMUP_BATCH (40), EPOCHS (2), LR (3e-4),
# RETRIEVAL_FRACTION (0.25),
# BATCH (40: a multiple of every N), MAXLEN (64), SEED (1), THREADS (1), DATA (data/sst2),
# TEXT (../shared/data/corpus), LTH (build/lth).
set -euo pipefail
lth=${LTH:-build/lth}
model=${1:?model directory}
out=${2:?output directory}
mask=${3:-}
ns=${NS:-1 2 5 10}
mask_args=()
[ -n "$mask" ] && mask_args=(--mask "$mask")
mkdir -p "$out"
for n in $ns; do
  run="$out/n$n"
  if [ ! -f "$run/result.json" ]; then
    "$lth" mux train --model "$model" "${mask_args[@]}" --task glue/sst2 --data "${DATA:-data/sst2}" \
      --text "${TEXT:-../shared/data/corpus}" --out "$run" --n "$n" --mux hadamard --demux index \
      --warmup-steps "${WARMUP_STEPS:-600}" --warmup-lr "${WARMUP_LR:-2e-3}" \
      --warmup-batch-size "${WARMUP_BATCH:-40}" --retrieval-fraction "${RETRIEVAL_FRACTION:-0.25}" --epochs "${EPOCHS:-2}" \
      --lr "${LR:-3e-4}" --batch-size "${BATCH:-40}" --max-length "${MAXLEN:-64}" --seed "${SEED:-1}" \
      --threads "${THREADS:-1}" --no-save-models > "$run.log" 2>&1 || { tail -3 "$run.log"; exit 1; }
  fi
done
# One table: instances/s per N measured side by side, and each run's accuracy, retrieval accuracy
# (SST-2 dev, and held-out text after the warm-up) and training time.
runs=()
for n in $ns; do runs+=("$out/n$n"); done
"$lth" mux bench --model "$model" "${mask_args[@]}" --n "$(echo $ns | tr ' ' ',')" --seq-len "${MAXLEN:-64}" \
  --threads "${THREADS:-1}" --runs "${runs[@]}"
