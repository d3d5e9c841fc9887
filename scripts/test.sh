#!/usr/bin/env bash
# The whole test suite: release build (gcc) and its tests, a clang build
# (warnings are errors under both compilers), and the ASan+UBSan build and
# its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh test
jobs=$(nproc)
echo "== build: gcc release"
make -j"$jobs" BUILD=release >/dev/null
echo "== build: clang release (warnings as errors)"
make -j"$jobs" BUILD=release CC=clang >/dev/null
echo "== build: gcc ASan+UBSan"
make -j"$jobs" BUILD=asan >/dev/null
if command -v mpicc >/dev/null; then
  echo "== build: gcc release with MPI (tests/cli_mpi.sh runs it; skipped without)"
  make -j"$jobs" BUILD=release MPI=1 build/release-mpi/gibbon >/dev/null
fi
echo "== tests: release"
make BUILD=release test
echo "== tests: ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1 GIBBON_TEST_SANITIZED=1 make BUILD=asan test
echo "ALL TESTS PASSED"
