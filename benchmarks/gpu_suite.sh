#!/usr/bin/env bash
# Issue 19: every CUDA path tested and the GPU figures measured, in one call of the lent GPU.
#
#   bash scripts/gpu_carry.sh                  # here, once: wheels (.whl) and Fashion-MNIST (.gpu-data)
#   device run, carry [.whl, .gpu-data]:  bash benchmarks/gpu_suite.sh $OUT
#
# Writes OUT/gpu_suite.log (everything printed) and OUT/gpu_suite.json (the figures, for
# BENCHMARKS.md), each step under its own time limit so the whole stays within 8 minutes on
# an H200. On a machine without a CUDA GPU it says so and exits 0 (the tests marked cuda
# skip there; this is the dry run on the CPU).
set -uo pipefail
out="${1:?give the folder for the log and the figures, e.g. \$OUT}"
mkdir -p "$out"
cd "$(dirname "$0")/.."
log="$out/gpu_suite.log"
py="${PYTHON:-python3}"
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && ! "$py" -c "import torch" 2>/dev/null && py=.venv/bin/python

if ! "$py" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_suite: no CUDA GPU visible to $py: nothing to run (the tests marked cuda skip on this machine)" | tee "$log"
    echo '{"gpu": null}' > "$out/gpu_suite.json"
    exit 0
fi

# The device machine has its own python3 and torch: cnnkit runs from src/, what it lacks from .whl.
if ls .whl/*.whl >/dev/null 2>&1; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "gpu_suite: installing .whl failed" | tee -a "$log"; exit 1; }
    export PYTHONPATH="$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
[ -d .gpu-data ] && export CNNKIT_DATA="$PWD/.gpu-data"
export PYTHONUNBUFFERED=1
work="$(mktemp -d)"

step() {  # step NAME SECONDS COMMAND...: run, log, keep the output in $work/NAME.out
    local name="$1" limit="$2"; shift 2
    echo "=== $name (limit ${limit}s): $*" | tee -a "$log"
    local start=$SECONDS
    timeout "$limit" "$@" > "$work/$name.out" 2>&1
    local rc=$?
    tail -n 40 "$work/$name.out" | tee -a "$log"
    echo "=== $name: rc $rc in $((SECONDS - start)) s" | tee -a "$log"
    echo "$rc $((SECONDS - start))" > "$work/$name.rc"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  "$py" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"; } 2>&1 | tee -a "$log"

step tests 240 "$py" -m pytest -q -p no:cacheprovider -m cuda tests/gpu -x
step fast 120 "$py" -m cnnkit train --preset fast --device cuda --out "$work/fast" --json
step best 200 "$py" -m cnnkit train --preset best --device cuda --out "$work/best" --json
step style 120 "$py" benchmarks/style_transfer.py --device cuda --size 512 --steps 200 --repeats 1

"$py" - "$work" "$out/gpu_suite.json" <<'PY'
import json, sys
from pathlib import Path
work, target = Path(sys.argv[1]), Path(sys.argv[2])
figures = {"gpu": True}
for name in ("tests", "fast", "best", "style"):
    rc_file = work / f"{name}.rc"
    if not rc_file.exists():
        continue
    rc, seconds = rc_file.read_text().split()
    entry = {"rc": int(rc), "wall_s": int(seconds)}
    text = (work / f"{name}.out").read_text(errors="replace")
    if name in ("fast", "best") and rc == "0":
        start = text.find("{")
        result = json.loads(text[start:]) if start >= 0 else {}
        entry.update(test_accuracy=result.get("test_accuracy"), seconds=result.get("seconds"),
                     device=result.get("device"), epochs=len(result.get("metrics", [])))
    else:
        entry["tail"] = text.strip().splitlines()[-3:]
    figures[name] = entry
target.write_text(json.dumps(figures, indent=2))
print(json.dumps(figures, indent=2))
PY
