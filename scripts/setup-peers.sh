#!/usr/bin/env bash
# Install the peers `python -m benchmarks peers` compares against (Debian packages, as root), daemons kept off:
# the benchmark starts each peer itself as a child process on loopback or inside the lab's DC namespace.
set -euo pipefail
PEERS=(prometheus prometheus-blackbox-exporter prometheus-snmp-exporter smokeping monitoring-plugins-basic
       monitoring-plugins-standard fping snmp snmpd)
missing=()
for p in "${PEERS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "setup-peers: ready"; exit 0; }
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-peers: missing Debian packages: ${missing[*]}; run this script as root" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
# Debian starts prometheus/exporters/smokeping/apache on install; the benchmark starts its own: keep them off.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-peers: installed ${missing[*]}"
