#!/usr/bin/env bash
# Fuzzes the ONNX model loader for a bounded time: builds the libFuzzer target
# (tests/fuzz/fuzz_onnx.c, clang with ASan+UBSan: make BUILD=fuzz CC=clang
# fuzz) and runs it on a copy of the committed seed corpus
# (tests/fuzz/corpus/, made by tests/fuzz/make_corpus.py). Any crash,
# sanitizer report, leak, timeout or allocation over the limits fails the
# test and leaves the reproducer in build/fuzz-clang/artifacts/.
#   GIBBON_FUZZ_SECONDS   run time (default 30)
# Skips when clang cannot build a libFuzzer binary (Debian: libclang-rt-14-dev,
# libomp-dev), and in the sanitized pass of the suite (GIBBON_TEST_SANITIZED=1:
# the fuzzer is already built with the sanitizers).
set -u
cd "$(dirname "$0")/.."
secs=${GIBBON_FUZZ_SECONDS:-30}
if [ "${GIBBON_TEST_SANITIZED:-0}" = 1 ]; then echo "SKIP cli_fuzz: runs in the release pass (the fuzzer has its own sanitizers)"; exit 0; fi
if ! command -v clang >/dev/null; then echo "SKIP cli_fuzz: no clang"; exit 0; fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address,undefined -fopenmp "$probe/p.c" -o "$probe/p" 2>"$probe/err"; then
  echo "SKIP cli_fuzz: clang cannot build a libFuzzer binary ($(head -1 "$probe/err"))"; exit 0
fi
if ! make -j"$(nproc)" BUILD=fuzz CC=clang fuzz >"$probe/build" 2>&1; then
  echo "FAIL cli_fuzz: the fuzz target does not build"; tail -20 "$probe/build"; exit 1
fi
bin=build/fuzz-clang/fuzz/fuzz_onnx
art=build/fuzz-clang/artifacts
mkdir -p "$art" "$probe/corpus"
cp tests/fuzz/corpus/* "$probe/corpus/"
# Every seed first (must all pass), then mutations for $secs seconds.
if ! "$bin" -runs=0 "$probe/corpus" >"$probe/seeds" 2>&1; then
  echo "FAIL cli_fuzz: a seed input fails"; grep -E "ERROR|runtime error|#[0-9]+ 0x" "$probe/seeds" | head -20; exit 1
fi
if "$bin" "$probe/corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=3072 -malloc_limit_mb=2048 \
     -artifact_prefix="$art/" -print_final_stats=1 >"$probe/log" 2>&1; then
  runs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$probe/log" | grep -o "[0-9]*$")
  echo "ok   fuzz_onnx: ${runs:-?} inputs in ${secs}s, no crash, leak, hang or huge allocation"
else
  echo "FAIL cli_fuzz: the fuzzer found a problem (reproducer in $art/):"
  grep -E "ERROR|runtime error|SUMMARY|Test unit written|    #[0-9]+ 0x" "$probe/log" | head -30
  exit 1
fi
