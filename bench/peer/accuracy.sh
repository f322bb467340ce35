#!/usr/bin/env bash
# Equal accuracy: lth finetune and the peer (bench/peer/finetune.py) after the same number of steps
# on the same first STEPS x 32 SST-2 training rows (one epoch), same recipe (AdamW, peak LR, linear
# warmup then decay, clipping at 1.0, no weight decay, batch 32, length-grouped dynamic padding),
# one run per seed; prints the dev accuracy of each and the means. Usage (repository root):
#   bench/peer/accuracy.sh MODEL_DIR [STEPS] [SEEDS]
# Environment: LR (3e-4), WARMUP (steps, 40), PRECISION (fp32), THREADS (2), DATA, LTH, PY, OUT.
set -euo pipefail
model=${1:?model directory}
steps=${2:-150}
seeds=${3:-1 2 3}
lr=${LR:-3e-4}
warmup=${WARMUP:-40}
prec=${PRECISION:-fp32}
threads=${THREADS:-2}
data=${DATA:-../shared/data/glue/SST-2}
lth=${LTH:-build/lth}
py=${PY:-.venv/bin/python}
here=$(dirname "$0")
if [ -n "${OUT:-}" ]; then out=$OUT; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
# Each side's own OpenMP waiting: lth chooses for itself (core/omp_wait.h), the peer keeps libgomp's
# default spin unless PEER_OMP=passive.
unset OMP_WAIT_POLICY GOMP_SPINCOUNT
peer_env=(env)
[ "${PEER_OMP:-default}" = passive ] && peer_env=(env OMP_WAIT_POLICY=PASSIVE)
head -n $((steps * 32 + 1)) "$data/train.tsv" >"$out/train.tsv"
la=(); pa=()
for seed in $seeds; do
  rm -rf "$out/run"
  "$lth" finetune --model "$model" --task glue/sst2 --data "$data" --train "$out/train.tsv" --out "$out/run" \
    --steps "$steps" --batch-size 32 --max-length 128 --lr "$lr" --warmup "${warmup}it" --seed "$seed" \
    --threads "$threads" --precision "$prec" --no-save-models --eval-every 100000it >"$out/lth.json" 2>"$out/lth.log"
  l=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$out/lth.json")
  "${peer_env[@]}" "$py" "$here/finetune.py" --model "$model" --data "$data" --train "$out/train.tsv" --steps "$steps" \
    --lr "$lr" --warmup "$warmup" --seed "$seed" --threads "$threads" --precision "$prec" --padding grouped \
    >"$out/peer.json" 2>"$out/peer.log"
  p=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["dev_accuracy"])' "$out/peer.json")
  echo "seed $seed: lth $l, peer $p" >&2
  la+=("$l"); pa+=("$p")
done
mean() { printf '%s\n' "$@" | awk '{s += $1} END {printf "%.4f", s / NR}'; }
echo "| seeds | steps | lr | precision | lth dev acc | peer dev acc | lth mean | peer mean | difference (points) |"
echo "|---|---|---|---|---|---|---|---|---|"
lm=$(mean "${la[@]}"); pm=$(mean "${pa[@]}")
echo "| $seeds | $steps | $lr | $prec | ${la[*]} | ${pa[*]} | $lm | $pm | $(echo "($lm - $pm) * 100" | bc -l | xargs printf '%+.2f') |"
