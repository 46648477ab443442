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

# llama.cpp's build flags. Not -march=native (GGML_NATIVE): on a CPU that lists AMX
# while the kernel keeps its tile state off (seen on virtual machines) the native
# build dies with SIGILL at the first `tilezero`, and a wheel built on one host
# must run on the next. OFF gives the x86-64-v3 set (AVX2, FMA, F16C, BMI2).
LLAMA_CMAKE_ARGS="${LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF}"

# Build the pinned llama-cpp-python once per (version, flags) into a cache of our
# own: pip's wheel cache is keyed by the sdist alone, so it would hand back a
# wheel built with other flags. Sets LLAMA_WHEEL.
llama_wheel() {
  local spec key dir
  spec="$(grep -Eo '^llama-cpp-python==[^ #]+' "$ROOT/requirements-ai.txt")"
  key="$(printf '%s %s' "$spec" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-16)"
  dir="${XDG_CACHE_HOME:-$HOME/.cache}/fms/wheels/$key"
  if ! compgen -G "$dir/llama_cpp_python-*.whl" >/dev/null; then
    log "building $spec ($LLAMA_CMAKE_ARGS; once per machine, ~6 min on 2 cores)"
    rm -rf "$dir.tmp"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" "$VENV/bin/pip" wheel -q --no-deps --no-cache-dir -w "$dir.tmp" "$spec"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  LLAMA_WHEEL="$(compgen -G "$dir/llama_cpp_python-*.whl" | head -n 1)"
}

ensure_venv() {
  [ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
  local stamp="$VENV/.fms-requirements" want
  want="$( { cat "$ROOT"/requirements*.txt "$ROOT/pyproject.toml"; echo "$LLAMA_CMAKE_ARGS"; } | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python requirements"
    "$VENV/bin/pip" install -q --upgrade pip
    llama_wheel
    local req
    "$VENV/bin/pip" install -q -r "$ROOT/requirements.txt"
    "$VENV/bin/pip" install -q -r "$ROOT/requirements-ai.txt" "$LLAMA_WHEEL"  # the pin, met by our wheel
    for req in "$ROOT"/requirements-tasks.txt "$ROOT"/requirements-ops.txt; do
      [ -f "$req" ] && "$VENV/bin/pip" install -q -r "$req"
    done
    # The same version built with other flags may be installed already: replace it.
    "$VENV/bin/pip" install -q --no-deps --force-reinstall "$LLAMA_WHEEL"
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
