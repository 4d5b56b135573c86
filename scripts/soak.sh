#!/usr/bin/env bash
# Soak test (not in CI): one `netprobe run` agent against 2,000 loopback targets (ping every 30 s, SNMP
# every 60 s on a real snmpd) for an hour after a warm-up; memory growth must stay under 5 %.
#   scripts/soak.sh [MINUTES=130] [TARGETS=2000] [extra benchmark args, e.g. --no-verdicts --warmup 60]
# Needs root (raw ICMP) and scripts/setup.sh done. Prints the benchmark's figures and PASS/FAIL.
# Why the default is 130 min with a 70 min warm-up: the verdict engine keeps one hour of observations
# (long_window_s) and the current hour's RTT samples for its baseline, so its memory fills during the
# first hour by design and is flat after. RSS is compared from the end of the warm-up to the end.
# A quick check of the probing/storage path alone: scripts/soak.sh 60 2000 --no-verdicts --warmup 120
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-130}"
targets="${2:-2000}"
shift $(( $# > 2 ? 2 : $# ))
extra=("$@")
if [[ ${#extra[@]} -eq 0 ]]; then extra=(--warmup 4200); fi
export NETPROBE_ALLOWED_NETS="127.0.0.0/8"
last="$(.venv/bin/python -m benchmarks agent --targets "$targets" --minutes "$minutes" "${extra[@]}" | tee /dev/stderr | tail -n 1)"
growth="$(sed -n 's/.*rss_growth_pct=\([-0-9.]*\).*/\1/p' <<<"$last")"
if [[ -z "$growth" ]]; then
    echo "soak: FAIL (no result line)"; exit 1
fi
if awk -v g="$growth" 'BEGIN { exit !(g < 5.0) }'; then
    echo "soak: PASS — ${minutes} min, ${targets} targets, RSS growth ${growth}% < 5%"
else
    echo "soak: FAIL — ${minutes} min, ${targets} targets, RSS growth ${growth}% >= 5%"; exit 1
fi
