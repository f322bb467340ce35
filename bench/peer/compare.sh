#!/usr/bin/env bash
# lth against today's peer (bench/peer/finetune.py: PyTorch + transformers from the project venv),
# side by side: every configuration runs lth then the peer (A B), ROUNDS times interleaved, on the
# same model, the same first STEPS x 32 SST-2 training rows (one epoch: with at most 50 batches,
# length grouping gives both tools exactly the same padded shapes), batch 32, max length 128,
# THREADS threads, the same precision. Prints a Markdown table of medians and lth/peer ratios:
# training examples/s, evaluation examples/s (SST-2 dev, reading + tokenising included) and peak RSS
# (/usr/bin/time -v, whole process). Usage (from the repository root):
#   bench/peer/compare.sh MODEL_DIR [STEPS] [ROUNDS]
# Environment:
#   MODES       training batching modes (default "pad128 grouped"): pad128 = both padded to 128,
#               grouped = both length-grouped dynamic padding (lth's default), random = lth
#               --no-group-by-length vs the peer's shuffled batches with dynamic padding;
#               defaults = each tool as a user runs it: lth with no batching or precision flag
#               (length-grouped, --precision auto) vs the peer's shuffled dynamic batches in fp32
#               (run once a round, recorded under precision "auto/fp32")
#   PRECISIONS  default "fp32 bf16" (bf16 = CPU autocast on both sides)
#   EVAL        1 (default): also lth eval vs the peer's evaluation (sorted batches of 128, like
#               lth eval, and the peer in file order); 0: training only
#   PEER_ATTN   sdpa (default) or eager; PEER_FLAGS, LTH_FLAGS: more flags for each side
#   THREADS (2), DATA (../shared/data/glue/SST-2), LTH (build/lth), PY (.venv/bin/python),
#   OUT (a temp dir: keeps results.jsonl and the logs when set; with LTH_FLAGS=--profile the lth logs
#   hold its phase shares and the peer's JSON its phase_ms_per_step, from the same runs)
#   PEER_OMP    default (the peer as users run it: libgomp's own ~3 ms spin after each parallel
#               region) or passive (OMP_WAIT_POLICY=PASSIVE). lth always makes its own choice
#               (core/omp_wait.h). Run it on a quiet machine: libgomp's default spin beside other
#               work is what made the session-3 peer ~10x slower.
set -euo pipefail
model=${1:?model directory}
steps=${2:-30}
rounds=${3:-3}
modes=${MODES:-pad128 grouped}
precisions=${PRECISIONS:-fp32 bf16}
threads=${THREADS:-2}
data=${DATA:-../shared/data/glue/SST-2}
lth=${LTH:-build/lth}
py=${PY:-.venv/bin/python}
attn=${PEER_ATTN:-sdpa}
here=$(dirname "$0")
if [ -n "${OUT:-}" ]; then out=$OUT; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
# Each side's own OpenMP waiting: lth chooses for itself (core/omp_wait.h), the peer keeps libgomp's
# default spin unless PEER_OMP=passive.
unset OMP_WAIT_POLICY GOMP_SPINCOUNT
peer_env=(env)
[ "${PEER_OMP:-default}" = passive ] && peer_env=(env OMP_WAIT_POLICY=PASSIVE)
train="$out/train.tsv"
head -n $((steps * 32 + 1)) "$data/train.tsv" >"$train"
results="$out/results.jsonl"
: >"$results"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

rss_mib() { sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\).*/\1/p' "$1" | awk '{printf "%.1f", $1 / 1024}'; }
record() { # tool mode precision kind ex/s rss [accuracy]
  printf '{"tool":"%s","mode":"%s","precision":"%s","kind":"%s","ex_s":%s,"rss_mib":%s,"acc":%s}\n' \
    "$1" "$2" "$3" "$4" "${5:-null}" "${6:-null}" "${7:-null}" >>"$results"
}

for r in $(seq "$rounds"); do
  first=1
  for prec in $precisions; do
    for mode in $modes; do
      lflags=(); pmode=$mode; lprec=$prec; pprec=$prec; label=$prec
      case $mode in
        pad128) lflags=(--pad-to-max-length) ;;
        grouped) ;;
        random) lflags=(--no-group-by-length) ;;
        defaults) [ "$first" = 1 ] || continue; pmode=random; lprec=auto; pprec=fp32; label=auto/fp32 ;;
        *) echo "unknown mode $mode" >&2; exit 2 ;;
      esac
      rm -rf "$out/run"
      /usr/bin/time -v -o "$out/time.txt" "$lth" finetune --model "$model" --task glue/sst2 --data "$data" \
        --train "$train" --out "$out/run" --steps "$steps" --batch-size 32 --max-length 128 --lr 2e-5 \
        --threads "$threads" --precision "$lprec" --no-save-models --eval-every 100000it "${lflags[@]}" \
        ${LTH_FLAGS:-} >"$out/lth.json" 2>"$out/lth.log"
      rate=$(sed -n 's/.*steps in .* (\([0-9.]*\) examples\/s).*/\1/p' "$out/lth.log")
      acc=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$out/lth.json")
      record lth "$mode" "$label" train "$rate" "$(rss_mib "$out/time.txt")" "$acc"
      cp "$out/lth.log" "$out/lth-train-$r-$lprec-$mode.log"
      /usr/bin/time -v -o "$out/time.txt" "${peer_env[@]}" "$py" "$here/finetune.py" --model "$model" --data "$data" \
        --train "$train" --steps "$steps" --batch-size 32 --max-length 128 --lr 2e-5 --threads "$threads" \
        --precision "$pprec" --padding "$pmode" --attn "$attn" ${PEER_FLAGS:-} >"$out/peer.json" 2>"$out/peer.log"
      read -r rate acc < <("$py" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["train_examples_per_s"], j["dev_accuracy"])' "$out/peer.json")
      record peer "$mode" "$label" train "$rate" "$(rss_mib "$out/time.txt")" "$acc"
      cp "$out/peer.json" "$out/peer-train-$r-$pprec-$mode.json"
      echo "round $r $label $mode done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
    first=0
    if [ "${EVAL:-1}" = 1 ]; then
      /usr/bin/time -v -o "$out/time.txt" "$lth" eval --model "$model" --task glue/sst2 --data "$data" \
        --max-length 128 --threads "$threads" --precision "$prec" >"$out/lth.json" 2>"$out/lth.log"
      rate=$(sed -n 's/.*examples in .* (\([0-9.]*\) examples\/s.*/\1/p' "$out/lth.log")
      record lth sorted "$prec" eval "$rate" "$(rss_mib "$out/time.txt")"
      for order in sorted file; do
        /usr/bin/time -v -o "$out/time.txt" "${peer_env[@]}" "$py" "$here/finetune.py" --model "$model" --data "$data" --steps 0 \
          --max-length 128 --threads "$threads" --precision "$prec" --attn "$attn" --eval-order "$order" \
          ${PEER_FLAGS:-} >"$out/peer.json" 2>"$out/peer.log"
        rate=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["eval_examples_per_s"])' "$out/peer.json")
        record peer "$order" "$prec" eval "$rate" "$(rss_mib "$out/time.txt")"
      done
      echo "round $r $prec eval done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    fi
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$py" "$here/table.py" "$results"
