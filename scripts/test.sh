#!/usr/bin/env bash
# Set up with the test tools, then run the whole test suite (two workers, one per core).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest -n "${CNNKIT_TEST_WORKERS:-2}" -q "$@"
