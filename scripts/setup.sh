#!/usr/bin/env bash
# Installs the Debian packages hearth needs (idempotent) and builds build/bin/hearth.
# The CUDA backend is built when nvcc is present (HEARTH_PRESET=cpu forces a CPU build).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build g++ pkg-config git ca-certificates
  clang libclang-rt-14-dev            # libFuzzer targets (preset fuzz)
  nlohmann-json3-dev libcli11-dev libfmt-dev libutf8proc-dev libxxhash-dev zlib1g-dev
  libgtest-dev libgmock-dev
  libyaml-cpp-dev                     # hearth serve --config config.yaml
  python3 python3-jsonschema          # test oracles
)
# The server's end-to-end tests drive it with the official OpenAI SDK for Node (npm); a
# Node.js the machine already has (>= 20) is kept, else Debian's.
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

preset=${HEARTH_PRESET:-}
if [ -z "$preset" ]; then
  if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then preset=cuda; else preset=cpu; fi
fi
echo "setup: building with preset '$preset'"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
echo "setup: built $(pwd)/build/bin/hearth"
