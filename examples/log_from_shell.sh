#!/usr/bin/env bash
# Log runs from a shell (or R via system2) with the CLI: one line per run, or a whole sweep
# from a CSV file in one write.
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

# a sweep in one write: params as they are, metric:NAME and tag:NAME columns
sweep="$(mktemp --suffix=.csv)"
trap 'rm -f "$sweep"' EXIT
echo "model,alpha,metric:rmse,metric:r2,tag:source" > "$sweep"
for alpha in 0.01 0.03 0.3 3.0; do
  echo "lasso,$alpha,$(python -c "print(round(3.0 + abs(0.3 - $alpha) / 3, 4))"),0.5,shell" >> "$sweep"
done
sheettrack log-many "$book" "$sweep" --sweep-id lasso-grid --hypothesis "lasso beats ridge" > /dev/null

sheettrack ls "$book" --sort rmse --columns run_id,model,alpha,rmse,sweep_id,sweep_rank
sheettrack validate "$book"
