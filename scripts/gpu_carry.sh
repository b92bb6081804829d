#!/usr/bin/env bash
# What the lent GPU machine lacks, made ready here to travel with `device run` (carry):
#   .whl/       wheels for its Python 3.12 of the packages its image does not hold (captum,
#               mnist1d, faster-coco-eval; the rest, torch included, are the image's own)
#   .gpu-data/  Fashion-MNIST (about 30 MB), as cnnkit finds it under $CNNKIT_DATA
# Both folders are ignored by git (.git/info/exclude). Then: benchmarks/gpu_suite.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
for folder in /.whl/ /.gpu-data/; do
    grep -qxF "$folder" .git/info/exclude 2>/dev/null || echo "$folder" >> .git/info/exclude
done
mkdir -p .whl .gpu-data/fashion-mnist
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
python="${PYTHON:-.venv/bin/python}"
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl "captum==0.9.0" "mnist1d==0.0.2.post1" "faster-coco-eval==1.8.0"
cp -u /usr/share/datasets/fashion-mnist/*.gz .gpu-data/fashion-mnist/
du -sh .whl .gpu-data
