#!/usr/bin/env bash
# fuzz.sh: build the libFuzzer targets and run each of them.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 s each, every target)
#
# Targets (tests/fuzz/fuzz_TARGET.c), each linked with only the code it
# checks, under AddressSanitizer and UndefinedBehaviorSanitizer, with clang
# and libFuzzer, into build-fuzz/fuzz_TARGET:
#
#   config        the config loader: config/*.c, the parts of core/ they need
#                 (addr.c, cidr.c, error.c, and log.c for
#                 iocpd_log_level_name) and tests/fuzz/resolve_stub.c in
#                 place of core/resolve.c, so no input ever reaches DNS;
#                 seeded with tests/config-cases/*.ini, dictionary
#                 tests/fuzz/config.dict, -max_len=4096
#   http_request  the metrics endpoint's request-head parser,
#                 service/http_request.c; seeded with tests/fuzz/http_request/,
#                 dictionary tests/fuzz/http_request.dict, -max_len=9000 (past
#                 the 8 KiB head limit)
#   logfmt        the access log's line format, service/logfmt.c; seeded with
#                 the records in tests/fuzz/logfmt/, -max_len=1024
#   proxy         the PROXY protocol parser and writer, core/proxy.c (with
#                 core/addr.c); seeded with tests/fuzz/proxy/, dictionary
#                 tests/fuzz/proxy.dict, -max_len=4200 (past the 4 KiB
#                 header limit)
#
# Each harness checks its code's documented contract, not only that it does
# not crash (see the comment at the top of each). Each target runs for
# SECONDS with -timeout=10 -rss_limit_mb=2048, on a copy of its seeds in a
# temporary directory (new corpus entries go there, never into the source
# tree).
#
# A target fails on any crash, broken contract (the harness aborts), leak,
# timeout, out-of-memory or sanitizer report (UBSan is built not to
# recover, so a report stops the run); the input that caused it is kept as
# build-fuzz/artifacts/TARGET-crash-... and the full log in
# build-fuzz/fuzz_TARGET.log. After each target one summary line:
#   "fuzz: OK TARGET, N runs in S s, cov X edges, ft Y features, corpus Z inputs"  or
#   "fuzz: FAILED TARGET (...) after N runs; reproduce: build-fuzz/fuzz_TARGET FILE"
# and the last line sums up: "fuzz: OK, N of N targets passed" or
# "fuzz: FAILED, M of N targets: NAMES". The exit status is 0 only if every
# target passed (2 on a usage error).
#
# Environment: IOCPD_FUZZ_CC (default clang, else clang-14). Needs the
# Debian packages clang, libclang-rt-14-dev and libinih-dev (scripts/deps.sh
# installs them). Never reads stdin.

set -uo pipefail

root=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
out=$root/build-fuzz
all_targets=(config http_request logfmt proxy)

usage() {
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (SECONDS a whole number above 0;" \
        "targets: ${all_targets[*]})" >&2
    exit 2
}

seconds=60
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
[ "$seconds" -gt 0 ] 2>/dev/null || usage
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] || usage
done

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

corpus_root=$(mktemp -d "${TMPDIR:-/tmp}/iocpd-fuzz-corpus.XXXXXX")
trap 'rm -rf -- "$corpus_root"' EXIT
mkdir -p "$out/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Sets the per-target settings: sources (besides the harness), include
# directories, extra libraries, seed files, dictionary, max_len.
configure() {
    sources=() includes=() libs=() seeds=() dict='' max_len=''
    case $1 in
    config)
        sources=("$root/tests/fuzz/resolve_stub.c" "$root"/config/*.c
            "$root/core/addr.c" "$root/core/cidr.c" "$root/core/error.c"
            "$root/core/log.c")
        includes=(-I "$root/include" -I "$root/core" -I "$root/core/posix"
            -I "$root/config")
        # May hold several words.
        read -r -a libs <<<"$(pkg-config --libs inih 2>/dev/null || echo -linih)"
        seeds=("$root"/tests/config-cases/*.ini)
        dict=$root/tests/fuzz/config.dict
        max_len=4096
        ;;
    http_request)
        sources=("$root/service/http_request.c")
        includes=(-I "$root/include" -I "$root/service")
        seeds=("$root"/tests/fuzz/http_request/*)
        dict=$root/tests/fuzz/http_request.dict
        max_len=9000
        ;;
    logfmt)
        sources=("$root/service/logfmt.c")
        includes=(-I "$root/include" -I "$root/service")
        seeds=("$root"/tests/fuzz/logfmt/*)
        max_len=1024
        ;;
    proxy)
        sources=("$root/core/proxy.c" "$root/core/addr.c")
        includes=(-I "$root/include" -I "$root/core" -I "$root/core/posix")
        seeds=("$root"/tests/fuzz/proxy/*)
        dict=$root/tests/fuzz/proxy.dict
        max_len=4200
        ;;
    esac
}

# Builds and runs one target; prints its summary line. Returns 0 if it
# passed.
run_target() {
    local name=$1 bin=$out/fuzz_$1 log=$out/fuzz_$1.log corpus=$corpus_root/$1
    local rc runs time_s last cov ft corp reports artifact dict_opt=()
    configure "$name"
    [ -n "$dict" ] && dict_opt=(-dict="$dict")
    echo "fuzz: building $bin with $cc"
    # The flags of the CMake build (C11, pedantic, warnings on), plus the
    # sanitizers; UBSan must not recover, or a report would not stop the run.
    if ! "$cc" -std=c11 -pedantic -Wall -Wextra -Wstrict-prototypes \
        -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        "${includes[@]}" "$root/tests/fuzz/fuzz_$name.c" "${sources[@]}" \
        "${libs[@]}" -o "$bin" </dev/null; then
        echo "fuzz: FAILED $name (build failed)"
        return 1
    fi

    mkdir -p "$corpus"
    cp -- "${seeds[@]}" "$corpus"/
    echo "fuzz: running $name for $seconds s, ${#seeds[@]} seed files (log: $log)"
    "$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict_opt[@]}" \
        -artifact_prefix="$out/artifacts/$name-" \
        "$corpus" </dev/null >"$log" 2>&1
    rc=$?
    # The progress lines, without the per-input noise, for the console.
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE|pulse)|^(==[0-9]+==)?ERROR|SUMMARY|runtime error|^fuzz_[a-z_]+: |artifact_prefix|Test unit written' "$log" | tail -n 20

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
        echo "fuzz: FAILED $name (exit $rc, $reports sanitizer/libFuzzer reports) after $runs runs;" \
            "reproduce: $bin ${artifact:-<input>}"
        return 1
    fi
    echo "fuzz: OK $name, $runs runs in $time_s s, cov ${cov:-?} edges, ft ${ft:-?} features," \
        "corpus ${corp:-?} inputs"
    return 0
}

failed=()
for t in "${targets[@]}"; do
    run_target "$t" || failed+=("$t")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED, ${#failed[@]} of ${#targets[@]} targets: ${failed[*]}"
    exit 1
fi
echo "fuzz: OK, ${#targets[@]} of ${#targets[@]} targets passed"
