#!/usr/bin/env bash
# Log runs from a shell (or R via system2) with the CLI: one line per run.
# Run:  bash examples/log_from_shell.sh [BOOK.xlsx]
set -euo pipefail
book="${1:-shell-runs.xlsx}"
sheettrack init "$book" --template regression
for alpha in 0.1 1.0 10.0; do
  rmse=$(python -c "print(round(3.2 + 0.1 * $alpha, 4))")
  sheettrack log "$book" -p model=ridge -p alpha="$alpha" -p n_samples=442 \
    -m rmse="$rmse" -m r2=0.45 --note "ridge with alpha=$alpha" \
    --hypothesis "stronger regularisation lowers test error"
done
sheettrack ls "$book" --sort rmse --columns run_id,alpha,rmse,r2
sheettrack validate "$book"
