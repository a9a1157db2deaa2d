#!/usr/bin/env bash
# Collect every wheel Unitscope needs into one folder, for installing on a machine
# without a network (packaging/install_offline.sh).  Run it on a machine with the same
# operating system, processor and Python minor version as the target, with pip able
# to reach its package index.
#
#   packaging/wheelhouse.sh [--cpu] [--python PYTHON] OUTDIR
#
#   --cpu            take torch and torchvision from PyTorch's CPU-only index
#                    ($TORCH_CPU_INDEX, default https://download.pytorch.org/whl/cpu):
#                    about 0.36 GB in all instead of 3.2 GB with CUDA's libraries.
#   --python PYTHON  the Python whose version and platform the wheels are for
#                    (default: .venv/bin/python if present, else python3).
#
# OUTDIR gets the wheels, install_offline.sh, SHA256SUMS (check a copy with `sha256sum -c SHA256SUMS`) and
# TARGET.txt (Python version and platform the wheels are for).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cpu=0
python=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --cpu) cpu=1; shift ;;
        --python) python="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        -*) echo "wheelhouse.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
if [[ $# -ne 1 ]]; then
    echo "usage: packaging/wheelhouse.sh [--cpu] [--python PYTHON] OUTDIR" >&2
    exit 2
fi
out="$(mkdir -p "$1" && cd "$1" && pwd)"
if [[ -z "$python" ]]; then
    if [[ -x "$repo/.venv/bin/python" ]]; then python="$repo/.venv/bin/python"; else python=python3; fi
fi
pip=("$python" -m pip)

echo "== building the unitscope wheel"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
# Build from a copy so the source tree gets no build/ or egg-info folders.
(cd "$repo" && tar --exclude=.venv --exclude=.git --exclude=build --exclude=dist --exclude='*.egg-info' \
    --exclude=__pycache__ --exclude=.pytest_cache --exclude=.hypothesis -cf - .) | (cd "$build" && tar -xf -)
"${pip[@]}" wheel --no-deps --no-build-isolation --quiet -w "$out" "$build" \
    || "${pip[@]}" wheel --no-deps --quiet -w "$out" "$build"   # no setuptools in $python: isolated build
wheel="$(ls -t "$out"/unitscope-*.whl | head -n 1)"

if [[ $cpu -eq 1 ]]; then
    index="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
    echo "== torch and torchvision, CPU-only, from $index"
    # Both from the same index: torchvision's CUDA build does not load with a CPU torch.
    "${pip[@]}" download --only-binary=:all: --no-deps -d "$out" --index-url "$index" torch torchvision
fi

echo "== every dependency of $(basename "$wheel")"
# With --find-links "$out", CPU wheels fetched above (e.g. 2.14.1+cpu) outrank the index's.
"${pip[@]}" download --only-binary=:all: -d "$out" --find-links "$out" "$wheel"
# pip itself, so the target can make a venv even where Python's ensurepip is missing.
"${pip[@]}" download --only-binary=:all: --no-deps -d "$out" pip

"$python" - "$out" "$cpu" <<'EOF'
import pathlib, platform, sys, sysconfig
out, cpu = pathlib.Path(sys.argv[1]), sys.argv[2] == "1"
torch = sorted(p.name for p in out.glob("torch-*.whl"))
(out / "TARGET.txt").write_text(
    f"python {platform.python_version()} ({sys.implementation.cache_tag})\n"
    f"platform {sysconfig.get_platform()}\n"
    f"torch {'CPU-only' if cpu else 'as the index serves it (CUDA on Linux x86_64)'}: {', '.join(torch)}\n")
EOF
# The installer travels with the wheels, so the drive is all the workstation needs.
install -m 755 "$here/install_offline.sh" "$out/install_offline.sh"
(cd "$out" && sha256sum -- *.whl > SHA256SUMS)
echo "== $(ls "$out"/*.whl | wc -l) wheels, $(du -sh "$out" | cut -f1), in $out"
cat "$out/TARGET.txt"
