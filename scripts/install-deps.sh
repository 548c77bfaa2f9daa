#!/bin/sh
# install-deps.sh -- installs the Debian packages nnlab needs to build, test
# and run (with sudo when not root). Installs only what is missing; the one
# list of packages for the README's set-up command and for CI.
set -eu
PKGS="build-essential pkg-config libyaml-dev libsqlite3-dev zlib1g-dev
libcmocka-dev dataset-fashion-mnist sqlite3 gnuplot-nox
slurm-wlm munge"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: every package is installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install:$missing" >&2; exit 1; }
    SUDO=sudo
fi
echo "install-deps: installing$missing"
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
