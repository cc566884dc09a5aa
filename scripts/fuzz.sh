#!/usr/bin/env bash
# fuzz.sh: build the config-file fuzzer and run it.
#
#   scripts/fuzz.sh [SECONDS]        (default 60)
#
# Builds tests/fuzz/fuzz_config.c with clang and libFuzzer under
# AddressSanitizer and UndefinedBehaviorSanitizer into build-fuzz/, from the
# config sources and the few parts of core/ they need (addr.c, cidr.c,
# error.c, and log.c for iocpd_log_level_name), with tests/fuzz/resolve_stub.c
# in place of core/resolve.c so that no input ever reaches DNS. Then runs it
# for SECONDS, seeded with a copy of tests/config-cases/*.ini in a temporary
# directory (new corpus entries go there, never into the source tree) and
# with the dictionary tests/fuzz/config.dict, with -max_len=4096 -timeout=10
# -rss_limit_mb=2048.
#
# Exits non-zero on any crash, leak, timeout, out-of-memory or sanitizer
# report (UBSan is built not to recover, so a report stops the run); the
# input that caused it is kept in build-fuzz/artifacts/ and the full log in
# build-fuzz/fuzz.log. The last line of output is a summary:
#   "fuzz: OK, N runs in S s, cov X edges, ft Y features, corpus Z inputs"  or
#   "fuzz: FAILED (...) after N runs; reproduce: build-fuzz/fuzz_config FILE"
#
# Environment: IOCPD_FUZZ_CC (default clang, else clang-14). Needs the
# Debian packages clang, libclang-rt-14-dev and libinih-dev (scripts/deps.sh
# installs them). Never reads stdin.

set -uo pipefail

root=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
seconds=${1:-60}
out=$root/build-fuzz
bin=$out/fuzz_config
log=$out/fuzz.log

if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: scripts/fuzz.sh [SECONDS]   (a whole number above 0)" >&2
    exit 2
fi

cc=${IOCPD_FUZZ_CC:-}
if [ -z "$cc" ]; then
    for c in clang clang-14; do
        if command -v "$c" >/dev/null 2>&1; then
            cc=$c
            break
        fi
    done
fi
if [ -z "$cc" ]; then
    echo "fuzz: FAILED (clang not found; apt-get install clang libclang-rt-14-dev)"
    exit 1
fi
inih_libs=$(pkg-config --libs inih 2>/dev/null || echo -linih)

mkdir -p "$out/artifacts"
echo "fuzz: building $bin with $cc"
# The flags of the CMake build (C11, pedantic, warnings on), plus the
# sanitizers; UBSan must not recover, or a report would not stop the run.
# $inih_libs is split on purpose (it may hold several words).
# shellcheck disable=SC2086
if ! "$cc" -std=c11 -pedantic -Wall -Wextra -Wstrict-prototypes \
    -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I "$root/core" -I "$root/core/posix" -I "$root/config" \
    "$root/tests/fuzz/fuzz_config.c" "$root/tests/fuzz/resolve_stub.c" \
    "$root/config/config.c" "$root/config/units.c" \
    "$root/core/addr.c" "$root/core/cidr.c" "$root/core/error.c" \
    "$root/core/log.c" \
    $inih_libs -o "$bin" </dev/null; then
    echo "fuzz: FAILED (build failed)"
    exit 1
fi

corpus=$(mktemp -d "${TMPDIR:-/tmp}/iocpd-fuzz-corpus.XXXXXX")
trap 'rm -rf -- "$corpus"' EXIT
cp -- "$root"/tests/config-cases/*.ini "$corpus"/
seeds=$(find "$corpus" -type f | wc -l)

echo "fuzz: running for $seconds s, $seeds seed files (log: $log)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="$root/tests/fuzz/config.dict" \
    -artifact_prefix="$out/artifacts/" \
    "$corpus" </dev/null >"$log" 2>&1
rc=$?
# The progress lines, without the per-input noise, for the console.
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE|pulse)|^(==[0-9]+==)?ERROR|SUMMARY|runtime error|artifact_prefix|Test unit written' "$log" | tail -n 20

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
time_s=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
runs=${runs:-?}
time_s=${time_s:-$seconds}

reports=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer' "$log")
if [ "$rc" -ne 0 ] || [ "$reports" -ne 0 ]; then
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "fuzz: FAILED (exit $rc, $reports sanitizer/libFuzzer reports) after $runs runs;" \
        "reproduce: $bin ${artifact:-<input>}"
    exit 1
fi
echo "fuzz: OK, $runs runs in $time_s s, cov ${cov:-?} edges, ft ${ft:-?} features," \
    "corpus ${corp:-?} inputs"
