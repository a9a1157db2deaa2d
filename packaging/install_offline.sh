#!/usr/bin/env bash
# Install Unitscope from a wheelhouse folder alone (made by packaging/wheelhouse.sh),
# with no network: pip runs with --no-index and ignores every pip configuration file
# and PIP_* setting of the machine, so it cannot reach an index even if one is set up.
#
#   packaging/install_offline.sh [--prefix DIR] [--python PYTHON] [--no-desktop] WHEELHOUSE
#
#   --prefix DIR     where the application's virtual environment goes (DIR/venv).
#                    Default: /opt/unitscope as root, else ~/.local/share/unitscope.
#   --python PYTHON  the Python 3.10+ to build the environment on (default python3);
#                    its version must be the one the wheelhouse was made for.
#   --no-desktop     do not add the `unitscope` command link, the menu entry and the icon.
#
# As root the command goes to /usr/local/bin and the menu entry to /usr/share; as a
# user to ~/.local/bin and ~/.local/share.  Run it again to upgrade in place.
set -euo pipefail

prefix=""
python=python3
desktop=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --python) python="$2"; shift 2 ;;
        --no-desktop) desktop=0; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "install_offline.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
if [[ $# -ne 1 || ! -d "$1" ]]; then
    echo "usage: packaging/install_offline.sh [--prefix DIR] [--python PYTHON] [--no-desktop] WHEELHOUSE" >&2
    [[ $# -eq 1 ]] && echo "install_offline.sh: '$1' is not a folder" >&2
    exit 2
fi
wheelhouse="$(cd "$1" && pwd)"
if ! ls "$wheelhouse"/unitscope-*.whl >/dev/null 2>&1; then
    echo "install_offline.sh: no unitscope-*.whl in $wheelhouse (make it with 'make wheelhouse')" >&2
    exit 2
fi
if [[ $(id -u) -eq 0 ]]; then
    prefix="${prefix:-/opt/unitscope}"; bindir=/usr/local/bin; datadir=/usr/share
else
    prefix="${prefix:-$HOME/.local/share/unitscope}"; bindir="$HOME/.local/bin"; datadir="$HOME/.local/share"
fi

# Only the wheelhouse: no configuration file, no index, no PIP_* variables.
offline_pip() {
    env -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_FIND_LINKS -u PIP_CONSTRAINT -u PIP_REQUIREMENT \
        PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$@" --no-index --find-links "$wheelhouse"
}

if [[ -f "$wheelhouse/TARGET.txt" ]]; then
    want="$(sed -n 's/^python \([0-9]*\.[0-9]*\).*/\1/p' "$wheelhouse/TARGET.txt")"
    have="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if [[ -n "$want" && "$want" != "$have" ]]; then
        echo "install_offline.sh: the wheelhouse is for Python $want but $python is $have;" \
             "use --python python$want, or make the wheelhouse with Python $have" >&2
        exit 2
    fi
fi
if [[ -f "$wheelhouse/SHA256SUMS" ]]; then
    echo "== checking the wheelhouse against SHA256SUMS"
    (cd "$wheelhouse" && sha256sum --quiet -c SHA256SUMS)
fi

venv="$prefix/venv"
echo "== creating $venv"
mkdir -p "$prefix"
if ! "$python" -m venv --clear "$venv" 2>/dev/null; then
    # Debian/Ubuntu without python3-venv have no ensurepip: start pip from the wheelhouse's own wheel.
    "$python" -m venv --clear --without-pip "$venv"
    pip_wheel="$(ls "$wheelhouse"/pip-*.whl | head -n 1)"
    offline_pip "$venv/bin/python" "$pip_wheel/pip" install --quiet pip
fi

echo "== installing unitscope from $wheelhouse (no network)"
offline_pip "$venv/bin/python" -m pip install --quiet unitscope

if [[ $desktop -eq 1 ]]; then
    echo "== adding the command, the menu entry and the icon"
    resources="$("$venv/bin/python" -c 'import pathlib, resources; print(pathlib.Path(resources.__file__).parent)')"
    mkdir -p "$bindir" "$datadir/applications" "$datadir/icons/hicolor/256x256/apps" \
        "$datadir/icons/hicolor/scalable/apps"
    ln -sf "$venv/bin/unitscope" "$bindir/unitscope"
    install -m 644 "$resources/icons/unitscope.png" "$datadir/icons/hicolor/256x256/apps/unitscope.png"
    install -m 644 "$resources/icons/unitscope.svg" "$datadir/icons/hicolor/scalable/apps/unitscope.svg"
    sed -e "s|^Exec=unitscope|Exec=$venv/bin/unitscope|" -e "s|^TryExec=unitscope|TryExec=$venv/bin/unitscope|" \
        "$resources/unitscope.desktop" > "$datadir/applications/unitscope.desktop"
    chmod 644 "$datadir/applications/unitscope.desktop"
    command -v update-desktop-database >/dev/null && update-desktop-database -q "$datadir/applications" || true
    command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$datadir/icons/hicolor" || true
fi

echo "== installed; the report below is what a bug report needs"
"$venv/bin/unitscope" doctor || true
echo
echo "Start it with: $venv/bin/unitscope$([[ $desktop -eq 1 ]] && echo "  (or 'unitscope' if $bindir is on PATH, or from the menu)")"
