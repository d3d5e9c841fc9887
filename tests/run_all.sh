#!/usr/bin/env bash
# Runs every test executable in $TESTBIN and every tests/cli_*.sh against
# $GIBBON; exits non-zero if any failed, naming them.
set -u
cd "$(dirname "$0")/.."
failed=()
for t in "$TESTBIN"/test_*; do
  [ -x "$t" ] || continue
  echo "== $(basename "$t")"
  if ! "$t"; then failed+=("$(basename "$t")"); fi
done
for s in tests/cli_*.sh; do
  [ -f "$s" ] || continue
  echo "== $(basename "$s")"
  if ! GIBBON="$GIBBON" bash "$s"; then failed+=("$(basename "$s")"); fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all tests passed"
