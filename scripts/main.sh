#!/usr/bin/env bash
# The main job: set up, train the default model (quicknet) on Fashion-MNIST with the fast
# preset, then show the result: the run's report (test accuracy, per-class accuracy,
# time, throughput) and where its pictures are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/cnnkit train
run="$(ls -td runs/*/ | head -n 1)"
echo
cat "${run}report.md"
echo
echo "pictures: ${run}curves.png ${run}confusion.png"
