#!/usr/bin/env bash
# The main job: set up, then show the model zoo and the layer-by-layer analysis of LeNet-5.
# (Once training lands, this trains the default model on Fashion-MNIST.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/cnnkit models
.venv/bin/cnnkit summary lenet5 --input 1x32x32
