#!/bin/bash
# Runs the job-file fuzzer for a bounded time on the seed corpus (tests/jobs/fuzz_corpus; new inputs go to a
# scratch directory). Without a fuzzer binary it first builds one with clang in BUILD_DIR (a separate CMake
# build of tests/jobs/fuzz). Exit: 0 clean, 77 skipped (no clang), other: a crash, leak, hang or sanitizer
# report (libFuzzer prints the input that caused it).
#
# Usage: run_fuzzer.sh SOURCE_DIR BUILD_DIR SECONDS [FUZZER | PREBUILT_LIBS INCLUDE_DIRS]
# PREBUILT_LIBS and INCLUDE_DIRS ('|'-separated) let the clang build link the main build's libraries instead
# of building the whole project with clang.
set -u
src=$1
build=$2
seconds=$3
fuzzer=""
prebuilt=()
if [ $# -ge 5 ]; then
  prebuilt=(-DTESSERA_PREBUILT_LIBS="$4" -DTESSERA_INCLUDE_DIRS="$5")
elif [ $# -ge 4 ]; then
  fuzzer=$4
fi

if [ -z "$fuzzer" ]; then
  cxx=$(command -v clang++ || command -v clang++-14 || true)
  cc=$(command -v clang || command -v clang-14 || true)
  if [ -z "$cxx" ] || [ -z "$cc" ]; then
    echo "SKIPPED LOUDLY: clang is not installed, so the libFuzzer target cannot be built (Debian: apt-get install clang)"
    exit 77
  fi
  mkdir -p "$build"
  if ! cmake -S "$src/tests/jobs/fuzz" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
       -DCMAKE_BUILD_TYPE=RelWithDebInfo "${prebuilt[@]}" > "$build/configure.log" 2>&1; then
    cat "$build/configure.log"
    echo "FAILED: configuring the clang build of the fuzzer"
    exit 1
  fi
  if ! cmake --build "$build" --target jobs_fuzzer -j "${TESSERA_FUZZ_BUILD_JOBS:-2}" > "$build/build.log" 2>&1; then
    tail -50 "$build/build.log"
    echo "FAILED: building the fuzzer with clang"
    exit 1
  fi
  fuzzer=$build/jobs_fuzzer
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exec "$fuzzer" "$work" "$src/tests/jobs/fuzz_corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=4096 -print_final_stats=1
