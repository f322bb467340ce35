#!/usr/bin/env bash
# Per-operator profiles of lth finetune and the peer at equal work: the same first STEPS x 32 rows of
# SST-2's train.tsv, batch 32, --max-length 128, THREADS threads, for every padding mode x precision;
# lth with --profile-ops (all its steps), the peer with torch.profiler (its last PROFILE_STEPS
# steps). Prints ops_table.py's table by kind of operator (ms per step) and keeps the raw profiles in
# OUT. Usage: [OUT=dir MODES="grouped pad128" PRECISIONS="fp32 bf16"] bench/peer/ops_compare.sh MODEL STEPS
set -euo pipefail
model=${1:?model directory}
steps=${2:-12}
modes=${MODES:-grouped pad128}
precisions=${PRECISIONS:-fp32 bf16}
threads=${THREADS:-2}
profile_steps=${PROFILE_STEPS:-$((steps > 4 ? steps - 2 : steps))}
data=${DATA:-../shared/data/glue/SST-2}
lth=${LTH:-build/lth}
py=${PY:-.venv/bin/python}
here=$(dirname "$0")
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
# Each side's own OpenMP waiting: lth chooses for itself (core/omp_wait.h), the peer keeps libgomp's
# default spin unless PEER_OMP=passive.
unset OMP_WAIT_POLICY GOMP_SPINCOUNT
peer_env=(env)
[ "${PEER_OMP:-default}" = passive ] && peer_env=(env OMP_WAIT_POLICY=PASSIVE)
head -n $((steps * 32 + 1)) "$data/train.tsv" >"$out/train.tsv"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
table_args=()
for prec in $precisions; do
  for mode in $modes; do
    lflags=()
    [ "$mode" = pad128 ] && lflags=(--pad-to-max-length)
    rm -rf "$out/run"
    "$lth" finetune --model "$model" --task glue/sst2 --data "$data" --train "$out/train.tsv" --out "$out/run" \
      --steps "$steps" --batch-size 32 --max-length 128 --lr 2e-5 --threads "$threads" --precision "$prec" \
      --no-save-models --eval-every 100000it --profile --profile-ops "$out/lth-$prec-$mode.md" "${lflags[@]}" \
      >/dev/null 2>"$out/lth-$prec-$mode.log"
    "${peer_env[@]}" "$py" "$here/finetune.py" --model "$model" --data "$data" --train "$out/train.tsv" --steps "$steps" \
      --batch-size 32 --max-length 128 --lr 2e-5 --threads "$threads" --precision "$prec" --padding "$mode" \
      --no-eval --profile "$out/peer-$prec-$mode.txt" --profile-steps "$profile_steps" >/dev/null 2>"$out/peer-$prec-$mode.log"
    table_args+=("$mode $prec" "$out/lth-$prec-$mode.md" "$out/peer-$prec-$mode.txt")
    echo "$prec $mode done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  done
done
"$py" "$here/ops_table.py" "${table_args[@]}"
