# Shared install steps for scripts/run and scripts/test. Idempotent: each step
# checks before it installs, so a second run on the same machine is fast.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"

log() { printf '[fms] %s\n' "$*" >&2; }

ensure_apt() {
  local wanted=() missing=() pkg
  mapfile -t wanted < <(grep -Ev '^\s*(#|$)' "$ROOT/scripts/apt-packages.txt")
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
  [ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
  local stamp="$VENV/.fms-requirements" want
  want="$(cat "$ROOT"/requirements*.txt "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python requirements (llama-cpp-python compiles once, ~6 min on 2 cores)"
    "$VENV/bin/pip" install -q --upgrade pip
    local req
    for req in "$ROOT"/requirements.txt "$ROOT"/requirements-ai.txt "$ROOT"/requirements-tasks.txt "$ROOT"/requirements-ops.txt; do
      [ -f "$req" ] && "$VENV/bin/pip" install -q -r "$req"
    done
    "$VENV/bin/pip" install -q --no-deps -e "$ROOT"
    echo "$want" > "$stamp"
  fi
}

ensure_models() {
  if [ -f "$ROOT/scripts/install_models.py" ]; then
    "$VENV/bin/python" "$ROOT/scripts/install_models.py" "${FMS_DATA_DIR:-$ROOT/var}"
  fi
}

install_all() {
  ensure_apt
  ensure_venv
  ensure_models
}
