#!/usr/bin/env bash
# The README's test command in a fresh venv on one torch / PyG pair:
#   bash .ci/matrix.sh NAME TORCH_VERSION PYG_VERSION
# Both versions are pinned through a constraints file of the venv's own (it replaces the
# machine's pip constraints, which cap torch), so the [test] extras never move them.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 torch_v=$2 pyg_v=$3
root=${GDL_MATRIX_ROOT:-/tmp/gdl-matrix}
venv=$root/$name
rm -rf "$venv"
mkdir -p "$root"
python -m venv "$venv"
printf 'torch==%s\ntorch-geometric==%s\n' "$torch_v" "$pyg_v" > "$root/$name.constraints"
export PIP_CONSTRAINT=$root/$name.constraints
start=$(date +%s)
"$venv/bin/pip" install -q "torch==$torch_v" "torch-geometric==$pyg_v"
"$venv/bin/pip" install -q -e ".[test]"
# a fresh clone's editable install must not leak into the next env
echo "matrix $name: torch $torch_v, torch-geometric $pyg_v installed in $(( $(date +%s) - start )) s"
"$venv/bin/python" -c "import torch, torch_geometric; print('versions', torch.__version__, torch_geometric.__version__)"
# a hard cap on the whole suite (about 4 min here): a hang fails this pair in bounded time
timeout -k 30 1500 "$venv/bin/python" -m pytest -q -p no:cacheprovider
rm -rf "$venv"
