#!/usr/bin/env bash
# Fine-tuning throughput (examples/s) of lth, dynamic padding (length-grouped batches, the default)
# vs padding every batch to 128, measured side by side: the variants run interleaved, ROUNDS times,
# and the table shows the median of each and the ratio. Usage:
#   bench/finetune_throughput.sh MODEL_DIR [STEPS] [ROUNDS]     (from the repository root)
# LTH_BENCH_FLAGS adds flags to every run (e.g. "--precision bf16").
set -euo pipefail
lth=${LTH:-build/lth}
model=${1:?model directory}
steps=${2:-30}
rounds=${3:-3}
glue=${GLUE:-../shared/data/glue}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A rates
for r in $(seq "$rounds"); do
  for task in SST-2:glue/sst2 RTE:glue/rte; do
    dir=${task%%:*}; name=${task##*:}
    for pad in dynamic pad128; do
      extra=(); [ "$pad" = pad128 ] && extra=(--pad-to-max-length)
      rm -rf "$tmp/run"
      rate=$("$lth" finetune --model "$model" --task "$name" --data "$glue/$dir" --out "$tmp/run" \
        --steps "$steps" --batch-size 32 --max-length 128 --lr 2e-5 --no-save-models --eval-every 100000it \
        "${extra[@]}" ${LTH_BENCH_FLAGS:-} 2>&1 | sed -n 's/.*steps in .* (\([0-9.]*\) examples\/s).*/\1/p')
      rates[$name/$pad]="${rates[$name/$pad]:-} $rate"
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '| task | dynamic padding (ex/s) | pad to 128 (ex/s) | ratio |\n|---|---|---|---|\n'
for name in glue/sst2 glue/rte; do
  d=$(echo "${rates[$name/dynamic]}" | median); p=$(echo "${rates[$name/pad128]}" | median)
  printf '| %s | %s | %s | %.2fx |\n' "$name" "$d" "$p" "$(echo "$d / $p" | bc -l)"
done
