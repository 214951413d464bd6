#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages: the PostgreSQL server.
set -euo pipefail

have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || command -v initdb > /dev/null; }

if have_postgres; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL is missing and installing it needs root: sudo apt-get install -y postgresql" >&2
  exit 1
fi
echo "Installing PostgreSQL (Debian package postgresql)…"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql > /dev/null
# The tests start their own servers; the packaged cluster is not needed.
if command -v pg_lsclusters > /dev/null; then
  pg_lsclusters -h | while read -r version cluster _; do
    pg_ctlcluster "$version" "$cluster" stop 2>/dev/null || true
  done
fi
have_postgres || { echo "PostgreSQL did not install" >&2; exit 1; }
