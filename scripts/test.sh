#!/usr/bin/env bash
# Builds Atelier and runs the whole test suite: GoogleTest unit tests (ctest),
# black-box API tests against real servers (pytest with Debian's python3 and
# python3-requests), the Huawei SDK signer tests (node --test), and the
# benches at smoke size so they cannot rot. Every server a test starts is
# started and stopped by that test.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh || exit 1

failed=()
run() {
  local name=$1
  shift
  echo "=== $name: $*"
  if ! "$@"; then failed+=("$name"); fi
}

run unit ctest --test-dir build --output-on-failure -j2
run api /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/api
run sdk node --test tests/node/
run bench-http /usr/bin/python3 bench/http_bench.py --smoke
run bench-ids build/atelier_id_bench 20000
run bench-data /usr/bin/python3 bench/data_bench.py --smoke
run bench-transfer /usr/bin/python3 bench/transfer_bench.py --smoke
run bench-training /usr/bin/python3 bench/training_bench.py --smoke
run bench-notebooks /usr/bin/python3 bench/notebook_bench.py --smoke
run bench-labeling /usr/bin/python3 bench/labeling_bench.py --smoke
run bench-obs /usr/bin/python3 bench/obs_bench.py --smoke

if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test groups passed"
