#!/usr/bin/env bash
# The two LibTorch builds side by side (README "Building"): lth from build/ (Debian's libtorch-dev
# 1.13) and from build-pip/ (PyPI's torch wheel), fine-tuning and evaluating one model on SST-2,
# interleaved A B A B for ROUNDS rounds; prints the medians and the ratio pip / debian. Usage:
#   bench/torch_builds.sh MODEL_DIR [STEPS] [ROUNDS]     (from the repository root, after both builds)
# Fine-tuning: STEPS steps, batch 32, --max-length 128, lth's default dynamic padding; examples/s as
# the trainer reports them. Evaluation: the first EVAL_N (872 = all) SST-2 dev examples, examples/s
# as `lth eval` logs them. THREADS (2) and LTH_BENCH_FLAGS (e.g. "--precision fp32") apply to all runs.
set -euo pipefail
a=${A:-build/lth}
b=${B:-build-pip/lth}
model=${1:?model directory}
steps=${2:-30}
rounds=${3:-3}
threads=${THREADS:-2}
glue=${GLUE:-../shared/data/glue}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -n $((${EVAL_N:-872} + 1)) "$glue/SST-2/dev.tsv" > "$tmp/dev.tsv"
mkdir -p "$tmp/sst2" && cp "$glue/SST-2/train.tsv" "$tmp/sst2/train.tsv" && cp "$tmp/dev.tsv" "$tmp/sst2/dev.tsv"
declare -A rates
for r in $(seq "$rounds"); do
  for side in debian pip; do
    lth=$a; [ "$side" = pip ] && lth=$b
    rm -rf "$tmp/run"
    rate=$("$lth" finetune --model "$model" --task glue/sst2 --data "$tmp/sst2" --out "$tmp/run" \
      --steps "$steps" --batch-size 32 --max-length 128 --lr 2e-5 --no-save-models --eval-every 100000it \
      --threads "$threads" ${LTH_BENCH_FLAGS:-} 2>&1 | sed -n 's/.*steps in .* (\([0-9.]*\) examples\/s).*/\1/p')
    rates[$side/finetune]="${rates[$side/finetune]:-} $rate"
    rate=$("$lth" eval --model "$model" --task glue/sst2 --data "$tmp/sst2" --threads "$threads" \
      ${LTH_BENCH_FLAGS:-} 2>&1 | sed -n 's/.*examples in .* (\([0-9.]*\) examples\/s.*/\1/p')
    rates[$side/eval]="${rates[$side/eval]:-} $rate"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '| phase | debian 1.13 (ex/s) | pip wheel (ex/s) | pip / debian | runs (debian; pip) |\n|---|---|---|---|---|\n'
for phase in finetune eval; do
  d=$(echo "${rates[debian/$phase]}" | median); p=$(echo "${rates[pip/$phase]}" | median)
  printf '| %s | %s | %s | %.2fx | %s; %s |\n' "$phase" "$d" "$p" "$(echo "$p / $d" | bc -l)" \
    "${rates[debian/$phase]# }" "${rates[pip/$phase]# }"
done
