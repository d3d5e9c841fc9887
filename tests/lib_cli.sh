# Sourced by tests/cli_*.sh: a scratch directory removed on exit and the
# ok/fail counters every script reports with (exit 1 at the end if fails > 0).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok()   { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
