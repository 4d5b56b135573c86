#!/usr/bin/env bash
# The whole test suite: installs what it needs, then lint, types, unit and integration tests.
# Integration tests (lab, influxd) need root; as root nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NETPROBE_ALLOWED_NETS="127.0.0.0/8,::1/128,198.18.0.0/15"  # tests may probe loopback + the lab only
echo "== ruff";  .venv/bin/ruff check netprobe tests benchmarks
echo "== mypy";  .venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest "$@"
