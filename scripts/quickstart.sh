#!/usr/bin/env bash
# The README's first command: set up, train on the sample data, forecast, show attention.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p runs
tsattn() { .venv/bin/tsattn "$@"; }
tsattn train sample_data/sample.csv --target load --lookback 168 --horizon 24 \
    --epochs 8 -o runs/sample.tsattn
(head -n 1 sample_data/sample.csv; tail -n 400 sample_data/sample.csv) |
    tsattn predict runs/sample.tsattn - --attention runs/attention.json --explain \
    > runs/forecast.csv
echo "forecast ($(($(wc -l < runs/forecast.csv) - 1)) rows) in runs/forecast.csv:"
head -n 6 runs/forecast.csv
echo "attention summary in runs/attention.json"
