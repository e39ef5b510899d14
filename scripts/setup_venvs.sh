#!/usr/bin/env bash
# Create or refresh both virtualenvs. Fast when nothing changed: each venv carries a
# stamp of its lock file and interpreter, and is only rebuilt when that stamp differs.
#   .venv-rasa  CPython 3.10 + rasa==3.6.21   (requirements/rasa.txt)
#   .venv-app   default python3 (3.11)        (requirements/app.txt)
set -euo pipefail
cd "$(dirname "$0")/.."

quiet_pip() { grep -v "Location 'file:" || true; }

# pip's own lines turned into a few progress lines: "collected 40/166", then "installing".
pip_progress() {  # name total
  awk -v name="$1" -v total="$2" '
    /^Collecting / { n++; if (n % 25 == 0 || n == total) { printf "setup: %s: %d/%d packages found\n", name, n, total; fflush() } next }
    /^Installing collected packages/ { printf "setup: %s: installing %d packages (the longest step)\n", name, n; fflush(); next }
    /^Successfully installed/ { printf "setup: %s: installed\n", name; fflush(); next }
    /Location .file:/ || /^  / || /^Requirement already/ || /^Using cached/ || /^Downloading/ || /^Processing/ || /^Obtaining/ { next }
    { print; fflush() }'
}

find_python310() {
  local cand
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
    command -v python3.10; return 0
  fi
  if command -v pyenv >/dev/null 2>&1; then
    for cand in "$(pyenv root)"/versions/3.10*/bin/python3.10; do
      [ -x "$cand" ] && "$cand" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo "$cand"; return 0; }
    done
  fi
  if command -v uv >/dev/null 2>&1; then
    cand=$(uv python find 3.10 2>/dev/null || true)
    [ -n "$cand" ] && [ -x "$cand" ] && { echo "$cand"; return 0; }
  fi
  return 1
}

make_venv() {  # name interpreter lockfile
  local dir=$1 py=$2 lock=$3 stamp
  stamp="$(sha256sum "$lock" | cut -c1-16) $("$py" -c 'import sys; print(sys.version.split()[0])')"
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
    echo "setup: $dir is up to date"
    return 0
  fi
  echo "setup: building $dir with $py from $lock (a few minutes the first time)"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade "pip==24.0" 2>&1 | quiet_pip
  "$dir/bin/python" -m pip install --progress-bar off -r "$lock" 2>&1 \
    | pip_progress "$dir" "$(grep -c '==' "$lock")"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "setup: pip failed for $dir" >&2; return 1; }
  "$dir/bin/python" -m pip check
  echo "$stamp" > "$dir/.stamp"
}

want=${1:-all}
if [ "$want" = all ] || [ "$want" = rasa ]; then
  if ! PY310=$(find_python310); then
    cat >&2 <<'MSG'
setup: CPython 3.10 is required for Rasa 3.6 and none was found
       (looked for python3.10 on PATH, pyenv's versions, and `uv python find 3.10`).
Install one of these, then run the command again:
  pyenv install 3.10.13          # if you use pyenv
  uv python install 3.10         # if you use uv
  apt-get install python3.10 python3.10-venv   # on distributions that package it
MSG
    exit 2
  fi
fi
app_pid=""
if [ "$want" = app ]; then
  make_venv .venv-app "${APP_PYTHON:-python3}" requirements/app.txt
elif [ "$want" = all ]; then  # built beside the Rasa venv: the two installs share the 2 cores
  make_venv .venv-app "${APP_PYTHON:-python3}" requirements/app.txt &
  app_pid=$!
fi
if [ "$want" = all ] || [ "$want" = rasa ]; then
  make_venv .venv-rasa "$PY310" requirements/rasa.txt
fi
if [ -n "$app_pid" ]; then
  wait "$app_pid" || { echo "setup: building .venv-app failed" >&2; exit 1; }
fi
