#!/usr/bin/env bash
# The fine-tuning experiments of docs/finetuning.md, in the order they ran, on the real corpus.
# Each builds (or reuses) a dataset version, trains a model version, and evaluates it against the current model
# with the promotion gate (one registry.json entry each). About 8 minutes a 1-epoch run on an idle 2-core
# machine (2 of training, 5 of encoding the candidate's corpus chunks); run 2 (5 epochs) about 23.
# Datasets and evaluation read the corpus from the warehouse (DUCKDB_PATH), so land and build it first:
#   DATA_DIR=../shared/data make run && training/experiments.sh [first-run-number]
# Afterwards `python -m training.promote --table` prints the registry as the table in docs/finetuning.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

# each command prints its output folder as its only line starting with "/"
run() {  # run <number> <dataset options> -- <training options>
  local n=$1; shift
  [[ $n -lt ${FIRST:-1} ]] && return 0
  local data=() train=()
  while [[ $1 != -- ]]; do data+=("$1"); shift; done; shift
  train=("$@")
  echo "=== run $n: data ${data[*]:-(defaults)} | train ${train[*]}"
  dataset=$($PY -m training.finetune_data "${data[@]}" | grep "^/" | tail -1)
  model=$($PY -m training.finetune --dataset "$dataset" --threads 2 "${train[@]}" | grep '^/' | tail -1)
  $PY -m training.promote --candidate "$model"
}

FIRST=${1:-1}
run 1 -- --epochs 1                                  # the first run: 1 epoch, mixed hard negatives, scale 20
run 2 -- --epochs 5                                  # more epochs (the 20-minute budget allows ~5)
run 3 --negatives judged-0 -- --epochs 1             # only judged-0 negatives (5 epochs overfit: back to 1)
run 4 --negatives bm25-unjudged -- --epochs 1        # only unjudged BM25 negatives
run 5 -- --epochs 1 --scale 50                       # a sharper softmax (temperature 0.02 instead of 0.05)
run 6 --synthetic-pairs 1000 -- --epochs 1           # + 1,000 inverse-cloze pairs (1,552 triplets)
run 7 -- --epochs 1 --seed 1                         # run 1's settings with another seed: the training noise
