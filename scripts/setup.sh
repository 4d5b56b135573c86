#!/usr/bin/env bash
# Install everything netprobe needs on Debian (as root): system packages, a venv, the package itself.
# Idempotent: a second run installs nothing new. Used by scripts/demo.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# fping/snmp: reference tools and lab checks; snmpd: real agents in the lab; influxdb/victoria-metrics:
# real servers for storage tests; nftables/iproute2: the lab; traceroute/iputils-ping: independent checks;
# chromium: the SLA report's HTML is opened headless in a test (it must render with no errors, no assets).
APT_PACKAGES=(fping snmp snmpd influxdb victoria-metrics nftables iproute2 iputils-ping traceroute procps psmisc chromium)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run this script as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 2
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Debian packages start their daemons on install; netprobe starts its own, so keep them off.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.netprobe-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
echo "setup: ready (.venv/bin/netprobe)"
