#!/usr/bin/env bash
# mesa_ros: the two commands of the README.
#   ./run.sh demo [args]   the fault-tolerance demo on the built-in default scenario
#   ./run.sh test [args]   the linter (ruff.toml), then the test suite (what CI runs)
# Both create/refresh the project virtual environment .venv from requirements.txt first.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

VENV=.venv
PY=$VENV/bin/python
STAMP=$VENV/.mesa_ros-installed

ensure_python() {
  if ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "[run.sh] installing python3-venv (Debian)" >&2
      apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
    else
      echo "[run.sh] need Python >= 3.10 with venv (Debian: sudo apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
}

pip_install() {  # quiet; drops the notices about this machine's absent local package mirrors
  "$PY" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

ensure_venv() {
  local want
  want=$(cat requirements.txt constraints.txt setup.py | sha256sum | cut -d' ' -f1)
  if [ -x "$PY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    return
  fi
  ensure_python
  [ -x "$PY" ] || python3 -m venv "$VENV"
  echo "[run.sh] installing pinned dependencies into $VENV (first run: ~1-2 min)" >&2
  pip_install -r requirements.txt -c constraints.txt
  pip_install --no-deps -e .
  echo "$want" > "$STAMP"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo)
    ensure_venv
    exec "$VENV/bin/mesa-ros" demo "$@" ;;
  test)
    ensure_venv
    "$VENV/bin/ruff" check .
    exec "$PY" -m pytest test "$@" ;;
  setup)
    ensure_venv ;;
  *)
    echo "usage: ./run.sh {demo|test|setup} [args]" >&2
    exit 2 ;;
esac
