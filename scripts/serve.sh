#!/usr/bin/env bash
# Builds Atelier and starts it on its embedded defaults: SQLite metadata, the
# local object store and the local runner under one data directory, with the
# object endpoint (S3/OBS protocol) beside the API.
#   ATELIER_LISTEN (default 127.0.0.1:8080), ATELIER_OBS_LISTEN (default
#   127.0.0.1:8081; "" for none), ATELIER_DATA_DIR (default ./atelier-data),
#   ATELIER_ADMIN_PASSWORD (first start only; generated and printed when unset).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
export ATELIER_OBS_LISTEN="${ATELIER_OBS_LISTEN-127.0.0.1:8081}"
exec build/atelier serve --listen "${ATELIER_LISTEN:-127.0.0.1:8080}" --data-dir "${ATELIER_DATA_DIR:-./atelier-data}" "$@"
