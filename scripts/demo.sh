#!/usr/bin/env bash
# The main job on the embedded default: installs what it needs, then runs `netprobe demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/netprobe demo "$@"
