# Sourced by the run scripts: makes .venv with the project installed, EXTRAS chosen by the caller.
# Installs the few Debian packages a bare Debian 12 lacks (as root; prints the command otherwise).
set -euo pipefail

missing=()
python3 -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
command -v g++ >/dev/null || missing+=(g++)
python3 -c "import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
  || missing+=(python3-dev)
# the tests watch the native writer's system calls (tests/test_native_file_writer.py)
[ "${EXTRAS:-}" != test ] || command -v strace >/dev/null || missing+=(strace)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "missing system packages; run: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q ".[${EXTRAS}]"
export PATH="$PWD/.venv/bin:$PATH"
