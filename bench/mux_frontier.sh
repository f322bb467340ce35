#!/usr/bin/env bash
# The multiplexing frontier on one model: accuracy x throughput over N x sparsity. For each mask
# (dense, then every ticket mask given) and each N, one `lth mux train` run (retrieval warm-up on raw
# text, then SST-2 fine-tuning with the same task budget for every N), then ONE `lth mux bench --runs`
# over all of them, so every configuration's instances/s is measured side by side with the others'
# (each run's own N, mux, demux and mask; masks pruned past the crossover run sparse), written to
# OUT/frontier.json, and `lth report` on it (OUT/frontier.md, OUT/frontier.html: the table, the
# frontier plot and the warm-up retrieval curves against the unigram baseline). Finished runs are
# skipped, killed ones resume, so the script can be run again after an interruption. Usage (from the
# repository root):
#   bench/mux_frontier.sh MODEL_DIR OUT_DIR [MASK...]
# Environment: NS ("1 2 5 10"); WARMUP_<N> (warm-up steps at that N; default WARMUP_STEPS, else
# 200 at N=1, 600 at N=2, 3000 at N=5, 8000 at N=10 and above); RETRIEVAL_FRACTION_<N> (share of
# positions the retrieval loss scores; default RETRIEVAL_FRACTION, else 0.25 at N=1 and 1 above);
# LR_<N> (the task phase's peak learning rate; default LR, else 5e-4 at N <= 2, 1.5e-3 at N=5, 3e-3
# at N=10 and above); WARMUP_LR (2e-3), WARMUP_BATCH (40), MUX (hadamard), DEMUX (mlp), EPOCHS (15),
# BATCH (40: a multiple of every N), MAXLEN (64), SEED (1), THREADS (1), JOBS (runs at a time: 1), DATA (data/sst2), TEXT
# (../shared/data/corpus), BENCH_SEQ_LEN (64), BENCH_ROUNDS (7), BENCH_THREADS (1), LTH (build/lth).
set -euo pipefail
lth=${LTH:-build/lth}
model=${1:?model directory}
out=${2:?output directory}
shift 2
masks=("" "$@")
ns=${NS:-1 2 5 10}
jobs=${JOBS:-1}
mkdir -p "$out"

# Per-N budgets (measured, docs/BENCHMARKS.md): retrieval is easy at N=1 and hard at N=10.
warmup_steps() {
  local n=$1 var="WARMUP_$1"
  if [ -n "${!var:-}" ]; then echo "${!var}"; return; fi
  if [ -n "${WARMUP_STEPS:-}" ]; then echo "$WARMUP_STEPS"; return; fi
  if [ "$n" -le 1 ]; then echo 200; elif [ "$n" -le 2 ]; then echo 600; elif [ "$n" -le 5 ]; then echo 3000; else echo 8000; fi
}
# The task phase's peak learning rate: a multiplexed model needs a higher one (docs/BENCHMARKS.md).
task_lr() {
  local n=$1 var="LR_$1"
  if [ -n "${!var:-}" ]; then echo "${!var}"; return; fi
  if [ -n "${LR:-}" ]; then echo "$LR"; return; fi
  if [ "$n" -le 2 ]; then echo 5e-4; elif [ "$n" -le 5 ]; then echo 1.5e-3; else echo 3e-3; fi
}
# Scored positions per step are groups x length x fraction: at N=1 a batch is 40 groups, so a
# quarter of its positions already outnumbers all of N=10's (4 groups).
retrieval_fraction() {
  local n=$1 var="RETRIEVAL_FRACTION_$1"
  if [ -n "${!var:-}" ]; then echo "${!var}"; return; fi
  if [ -n "${RETRIEVAL_FRACTION:-}" ]; then echo "$RETRIEVAL_FRACTION"; return; fi
  if [ "$n" -le 1 ]; then echo 0.25; else echo 1; fi
}

# One run: OUT/<mask label>/n<N>.
train_one() {
  local mask=$1 n=$2 run=$3
  local mask_args=()
  [ -n "$mask" ] && mask_args=(--mask "$mask")
  [ -f "$run/result.json" ] && return 0
  "$lth" mux train --model "$model" "${mask_args[@]}" --task glue/sst2 --data "${DATA:-data/sst2}" \
    --text "${TEXT:-../shared/data/corpus}" --out "$run" --n "$n" --mux "${MUX:-hadamard}" --demux "${DEMUX:-mlp}" \
    --warmup-steps "$(warmup_steps "$n")" --warmup-lr "${WARMUP_LR:-2e-3}" \
    --warmup-batch-size "${WARMUP_BATCH:-40}" --retrieval-fraction "$(retrieval_fraction "$n")" \
    --epochs "${EPOCHS:-15}" --lr "$(task_lr "$n")" --batch-size "${BATCH:-40}" --max-length "${MAXLEN:-64}" \
    --seed "${SEED:-1}" --threads "${THREADS:-1}" --precision fp32 --no-save-models > "$run.log" 2>&1 ||
    { echo "mux_frontier: $run failed:" >&2; tail -3 "$run.log" >&2; return 1; }
  echo "mux_frontier: $run done" >&2
}

runs=()
for i in "${!masks[@]}"; do
  mask=${masks[$i]}
  label=dense
  [ -n "$mask" ] && label="mask$i"
  mkdir -p "$out/$label"
  for n in $ns; do
    run="$out/$label/n$n"
    runs+=("$run")
    rm -f "$run.failed"
    { train_one "$mask" "$n" "$run" || touch "$run.failed"; } &
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  done
done
wait
for run in "${runs[@]}"; do
  [ ! -e "$run.failed" ] || { echo "mux_frontier: $run failed (its .log says why); run again to resume" >&2; exit 1; }
done

# --n 1 with the runs' mux and demux: the dense N=1 run's configuration, the speedups' base.
"$lth" mux bench --model "$model" --n 1 --mux "${MUX:-hadamard}" --demux "${DEMUX:-mlp}" \
  --seq-len "${BENCH_SEQ_LEN:-64}" --rounds "${BENCH_ROUNDS:-7}" \
  --threads "${BENCH_THREADS:-1}" --runs "${runs[@]}" --out "$out/frontier.json"
"$lth" report "$out/frontier.json" --out "$out/frontier.md"
"$lth" report "$out/frontier.json" --out "$out/frontier.html"
