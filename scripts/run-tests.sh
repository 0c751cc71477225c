#!/usr/bin/env bash
# The whole suite. Tests start the servers they need themselves (PostgreSQL, Postfix, Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
