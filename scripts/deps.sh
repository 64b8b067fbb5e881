#!/usr/bin/env bash
# Installs everything Atelier needs to build, run and test, from Debian's packages
# and npm only. Idempotent and fast when all is in place: it asks dpkg first and
# calls apt-get only for what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(
  g++ cmake ninja-build ccache pkg-config
  libboost1.74-dev            # Asio + Beast (header-only); 1.74, see DEVELOPERS.md
  nlohmann-json3-dev libsqlite3-dev sqlite3 libssl-dev libargon2-dev
  libcurl4-openssl-dev libspdlog-dev libfmt-dev libcli11-dev
  libpugixml-dev              # VOC XML of manifest import (src/data/manifest_voc.cc, manifest_plain.cc)
  libjemalloc-dev             # the allocator (CMakeLists.txt says why)
  libgtest-dev googletest
  python3-requests python3-pytest   # black-box API tests (/usr/bin/python3)
  python3-botocore                  # tests/unit/s3_vectors.py: requests signed by the real AWS client code
  python3-boto3                     # tests/api: the object endpoint used by the AWS SDK for Python
  wrk                               # bench/
  bubblewrap                        # the local runner's sandbox (src/runtime)
  slurm-wlm munge                   # the Slurm runner's tests start a one-node cluster (scripts/slurm.sh)
  python3-torch libopenblas0-pthread  # PyTorch engine; openblas: torch is 10x slower on reference BLAS
  python3-sklearn python3-xgboost python3-numpy  # Scikit-learn and XGBoost engines
  python3-crc32c                    # python/atelier_metrics.py (the event files' checksums)
  chromium                          # browser tests of the pages the server serves (tests/node, playwright-core)
  jupyter-notebook python3-notebook # notebook instances run Debian's Jupyter Notebook (src/notebooks)
  python3-websocket                 # tests: kernels over the proxy's WebSocket
  python3-aiosmtpd                  # tests: the SMTP sink that labeling notices go to
  openssl                           # tests: a self-signed certificate for the S3 object store over TLS
)

missing=()
for p in "${DEBS[@]}"; do
  [[ "$p" == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# node + npm run the Huawei SDK signer in the tests; the machine image may ship
# its own nodejs (which bundles npm), so ask for Debian's only when absent.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages for the client tests (the real Huawei SDK signer; playwright-core
# drives Debian's chromium, it downloads no browser; minio and esdk-obs-nodejs
# drive the object endpoint; s3rver is a third-party S3 server the S3
# object-store backend's unit tests run against). The SDK core requires uuid
# at run time without declaring it.
if [ ! -f tests/node/node_modules/@huaweicloud/huaweicloud-sdk-core/package.json ] \
   || [ ! -f tests/node/node_modules/uuid/package.json ] \
   || [ ! -f tests/node/node_modules/playwright-core/package.json ] \
   || [ ! -f tests/node/node_modules/minio/package.json ] \
   || [ ! -f tests/node/node_modules/esdk-obs-nodejs/package.json ] \
   || [ ! -f tests/node/node_modules/s3rver/package.json ]; then
  echo "deps: npm install (tests/node)"
  (cd tests/node && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
