#!/bin/sh
# Installs the Debian packages llmflash needs when any is missing, and says so.
# Usage: scripts/deps.sh [build|test|bench|fuzz]  (test, bench and fuzz add their tools;
# clang and its libFuzzer runtime build the fuzz harnesses)
set -eu
need="build-essential pkg-config libgsl-dev libhdf5-dev libjson-c-dev liburing-dev libssl-dev gnuplot-nox"
case "${1:-build}" in
  test)  need="$need libcmocka-dev python3-h5py clang libclang-rt-14-dev" ;;
  bench) need="$need libcmocka-dev python3-h5py fio clang libclang-rt-14-dev" ;;
  fuzz)  need="$need clang libclang-rt-14-dev" ;;
esac
missing=""
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "llmflash: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" != 0 ]; then
  SUDO=sudo
  command -v sudo >/dev/null || { echo "llmflash: not root and no sudo: install$missing by hand" >&2; exit 1; }
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
