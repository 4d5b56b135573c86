#!/usr/bin/env bash
# Soak test (not in CI): one `netprobe run` agent against 2,000 loopback targets (ping every 30 s, SNMP
# every 60 s on a real snmpd), live verdicts on, for an hour after a 5-minute warm-up; RSS growth from the
# end of the warm-up to the end must stay under 5 %.
#   scripts/soak.sh [MINUTES=65] [TARGETS=2000] [extra benchmark args, e.g. --no-verdicts --warmup 60]
# Needs root (raw ICMP) and scripts/setup.sh done. Prints the benchmark's figures and PASS/FAIL.
# The warm-up covers start-up and the first SNMP polls: the verdict engine sizes each series for its whole
# window (one hour by default) when the series first appears, so its memory does not fill during the hour.
# The targets live in 127.217.0.0/16, so `python -m benchmarks agent` (127.216.0.0/16) can run beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-65}"
targets="${2:-2000}"
shift $(( $# > 2 ? 2 : $# ))
extra=("$@")
if [[ ${#extra[@]} -eq 0 ]]; then extra=(--warmup 300); fi
export NETPROBE_ALLOWED_NETS="127.0.0.0/8"
last="$(.venv/bin/python -m benchmarks agent --targets "$targets" --minutes "$minutes" --network 127.217.0.0/16 "${extra[@]}" | tee /dev/stderr | tail -n 1)"
growth="$(sed -n 's/.*rss_growth_pct=\([-0-9.]*\).*/\1/p' <<<"$last")"
if [[ -z "$growth" ]]; then
    echo "soak: FAIL (no result line)"; exit 1
fi
if awk -v g="$growth" 'BEGIN { exit !(g < 5.0) }'; then
    echo "soak: PASS — ${minutes} min, ${targets} targets, RSS growth ${growth}% < 5%"
else
    echo "soak: FAIL — ${minutes} min, ${targets} targets, RSS growth ${growth}% >= 5%"; exit 1
fi
