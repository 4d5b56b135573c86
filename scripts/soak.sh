#!/usr/bin/env bash
# Soak test (not in CI): one `netprobe run` agent for an hour against 2,000 loopback targets
# (ping every 30 s, SNMP every 60 s on a real snmpd), then: memory growth must stay under 5 %.
#   scripts/soak.sh [MINUTES=60] [TARGETS=2000] [extra benchmark args, e.g. --no-snmp]
# Needs root (raw ICMP) and scripts/setup.sh done. Prints the benchmark's figures and PASS/FAIL.
# RSS is compared from the end of the warm-up (the first minute) to the end: the verdict engine keeps
# one hour of observations (long_window_s), so a run shorter than ~70 min includes that fill-up.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-60}"
targets="${2:-2000}"
shift $(( $# > 2 ? 2 : $# ))
export NETPROBE_ALLOWED_NETS="127.0.0.0/8"
last="$(.venv/bin/python -m benchmarks agent --targets "$targets" --minutes "$minutes" "$@" | tee /dev/stderr | tail -n 1)"
growth="$(sed -n 's/.*rss_growth_pct=\([-0-9.]*\).*/\1/p' <<<"$last")"
if [[ -z "$growth" ]]; then
    echo "soak: FAIL (no result line)"; exit 1
fi
if awk -v g="$growth" 'BEGIN { exit !(g < 5.0) }'; then
    echo "soak: PASS — ${minutes} min, ${targets} targets, RSS growth ${growth}% < 5%"
else
    echo "soak: FAIL — ${minutes} min, ${targets} targets, RSS growth ${growth}% >= 5%"; exit 1
fi
