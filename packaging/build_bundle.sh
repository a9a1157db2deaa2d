#!/usr/bin/env bash
# Build the one-folder desktop bundle (PyInstaller) in a clean environment of its own,
# then start the bundled app once with --screenshot as a smoke test.  Not part of CI.
#
#   packaging/build_bundle.sh [--wheelhouse DIR] [--python PYTHON] [--work DIR]
#
#   --wheelhouse DIR  install Unitscope and its dependencies from a wheelhouse
#                     (packaging/wheelhouse.sh; a --cpu one gives a far smaller bundle)
#                     instead of from the package index.  PyInstaller itself always
#                     comes from the index.
#   --python PYTHON   the Python to build with (default python3).
#   --work DIR        build environment and PyInstaller's work files
#                     (default ${TMPDIR:-/tmp}/unitscope-bundle).
#
# The bundle lands in WORK/dist/unitscope/; copy that folder to the target machine and
# run unitscope inside it.  The build environment is kept for the next build.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
wheelhouse=""
python=python3
work="${TMPDIR:-/tmp}/unitscope-bundle"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --wheelhouse) wheelhouse="$(cd "$2" && pwd)"; shift 2 ;;
        --python) python="$2"; shift 2 ;;
        --work) work="$2"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "build_bundle.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$work"
work="$(cd "$work" && pwd)"
venv="$work/venv"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "== creating the build environment $venv"
    "$python" -m venv "$venv"
fi
echo "== installing Unitscope (not editable) and PyInstaller"
if [[ -n "$wheelhouse" ]]; then
    "$venv/bin/python" -m pip install --quiet --no-index --find-links "$wheelhouse" --force-reinstall --no-deps \
        "$(ls -t "$wheelhouse"/unitscope-*.whl | head -n 1)"
    "$venv/bin/python" -m pip install --quiet --no-index --find-links "$wheelhouse" unitscope
else
    "$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$repo"
    "$venv/bin/python" -m pip install --quiet "$repo"
fi
"$venv/bin/python" -m pip install --quiet "pyinstaller>=6.10"

echo "== running PyInstaller"
start=$(date +%s)
(cd "$work" && "$venv/bin/pyinstaller" --noconfirm --log-level WARN --distpath "$work/dist" \
    --workpath "$work/build" "$here/unitscope.spec")
echo "== built in $(( $(date +%s) - start )) s: $work/dist/unitscope ($(du -sh "$work/dist/unitscope" | cut -f1))"

echo "== smoke test: the bundled app paints its first feature map and saves a screenshot"
shot="$work/bundle-screenshot.png"
rm -rf "$shot" "$work/smoke-home"
start=$(date +%s%N)
# A home of its own: the settings of an earlier session would reopen another model.
(cd "$work" && env -u PYTHONPATH QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}" HOME="$work/smoke-home" \
    XDG_CONFIG_HOME="$work/smoke-home/.config" TORCH_HOME="$work/smoke-home/torch" \
    "$work/dist/unitscope/unitscope" --screenshot "$shot")
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
echo "== screenshot $shot, start-up to first painted feature map and exit: $((elapsed / 1000)).$(printf %03d $((elapsed % 1000))) s"
