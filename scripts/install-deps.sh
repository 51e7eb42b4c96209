#!/usr/bin/env bash
# Installs the Debian 12 packages ferry needs to build, test and demo, when
# they are missing. As root it runs apt-get; otherwise it prints the command.
#   scripts/install-deps.sh            # what make demo/check/bench need
#   scripts/install-deps.sh PKG...     # these instead (scripts/fuzz.sh)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev
  libsqlite3-dev sqlite3 sqlite3-tools
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libfmt-dev
  libxxhash-dev libzstd-dev libboost-dev libboost-filesystem-dev catch2 time bc
)
[[ $# -gt 0 ]] && packages=("$@")

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [[ $(id -u) -ne 0 ]]; then
  echo "ferry needs these Debian packages: ${missing[*]}" >&2
  echo "Install them with:  sudo apt-get update && sudo ${cmd[*]}" >&2
  exit 1
fi
echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
"${cmd[@]}" >/dev/null
