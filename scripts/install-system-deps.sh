#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages: the PostgreSQL server, and
# Chromium for the browser tests (driven by Playwright; never `playwright install`), and
# Prometheus for `promtool`, which checks and unit-tests the shipped alert rules.
set -euo pipefail

have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || command -v initdb > /dev/null; }

missing=()
have_postgres || missing+=(postgresql)
command -v chromium > /dev/null || missing+=(chromium)
command -v promtool > /dev/null || missing+=(prometheus)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing: ${missing[*]}; installing needs root: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing ${missing[*]} (Debian packages)…"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
# The tests start their own servers; the packaged cluster is not needed.
if command -v pg_lsclusters > /dev/null; then
  pg_lsclusters -h | while read -r version cluster _; do
    pg_ctlcluster "$version" "$cluster" stop 2>/dev/null || true
  done
fi
have_postgres || { echo "PostgreSQL did not install" >&2; exit 1; }
command -v chromium > /dev/null || { echo "Chromium did not install" >&2; exit 1; }
command -v promtool > /dev/null || { echo "promtool (prometheus) did not install" >&2; exit 1; }
