#!/usr/bin/env bash
# test-all.sh: build iocpd three ways and run every test of each build.
#
#   scripts/test-all.sh [native] [asan] [wine]     (default: all three)
#
#   native  RelWithDebInfo build in build/, ctest
#   asan    AddressSanitizer + UndefinedBehaviorSanitizer build in
#           build-asan/ (clang if installed, else gcc), ctest
#   wine    Windows cross build (mingw-w64) in build-win/, ctest with every
#           Windows program run under Wine in a private, temporary prefix
#
# All parts run even if one fails; the exit status is non-zero if any part
# failed. After a summary line per part, the last line is
# "N passed, M failed", the sum of the ctest results of all parts; a part
# that fails to configure or build, or whose ctest reports nothing, counts
# as one failed test there, so that line never looks green when a part broke.
#
# Environment: IOCPD_JOBS (build and native ctest parallelism, default 2),
# IOCPD_WINE_CTEST_JOBS (ctest parallelism under Wine, default 1: the Wine
# tests share one wineserver, and timing-sensitive ones are steadier
# serialised), IOCPD_TEST_TIMEOUT (seconds, for tests that set no TIMEOUT;
# default 300). Needs the packages of scripts/deps.sh. Never reads stdin.

set -uo pipefail

root=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
jobs=${IOCPD_JOBS:-2}
wine_jobs=${IOCPD_WINE_CTEST_JOBS:-1}
test_timeout=${IOCPD_TEST_TIMEOUT:-300}
wrapper="$root/tests/wine/iocpd-wine"

if [ $# -eq 0 ]; then
    set -- native asan wine
fi

total_passed=0
total_failed=0
status=0
summaries=()

log() { printf '\n=== %s\n' "$*"; }

# record PART PASSED FAILED TEXT
record() {
    total_passed=$((total_passed + $2))
    total_failed=$((total_failed + $3))
    summaries+=("$1: $4")
    if [ "$3" -ne 0 ]; then
        status=1
    fi
}

# A build directory configured with another generator cannot be reused.
check_generator() {
    local dir=$1 cache=$1/CMakeCache.txt
    if [ -f "$cache" ] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "$cache"; then
        echo "test-all: $dir was configured with another generator; removing it"
        rm -rf -- "$dir"
    fi
}

# configure_and_build PART DIR CMAKE-ARGS...: returns non-zero on failure
# after recording it.
configure_and_build() {
    local part=$1 dir=$2
    shift 2
    check_generator "$dir"
    log "$part: configure ($dir)"
    if ! cmake -S "$root" -B "$dir" -G Ninja "$@" </dev/null; then
        record "$part" 0 1 "configure failed (counted as 1 failed)"
        return 1
    fi
    log "$part: build"
    if ! cmake --build "$dir" -j "$jobs" </dev/null; then
        record "$part" 0 1 "build failed (counted as 1 failed)"
        return 1
    fi
}

# run_ctest PART DIR JOBS: runs ctest in DIR and records its counts. A test
# that ctest did not run (skipped through SKIP_RETURN_CODE, or disabled)
# counts neither as passed nor as failed; the part's line shows it.
run_ctest() {
    local part=$1 dir=$2 j=$3 out rc line failed total skipped passed text
    out=$(mktemp "${TMPDIR:-/tmp}/iocpd-ctest.XXXXXX")
    log "$part: ctest -j$j"
    (cd "$dir" && ctest --output-on-failure --no-tests=error -j "$j" \
        --timeout "$test_timeout" </dev/null) 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    # "100% tests passed, 0 tests failed out of 12" or
    # "83% tests passed, 2 tests failed out of 12"
    line=$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$out" | tail -n 1)
    # "The following tests did not run:" then "  7 - name (Skipped)"
    skipped=$(grep -Ec '^[[:space:]]*[0-9]+ - .* \((Skipped|Disabled)\)$' "$out")
    rm -f "$out"
    if [ -z "$line" ]; then
        record "$part" 0 1 "ctest reported no results, exit $rc (counted as 1 failed)"
        return
    fi
    failed=${line%% *}
    total=${line##* }
    passed=$((total - failed - skipped))
    text="$passed passed, $failed failed"
    if [ "$skipped" -ne 0 ]; then
        text="$text, $skipped skipped"
    fi
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        # ctest failed without a failing test (e.g. an error after the run).
        record "$part" "$passed" 1 "$text; ctest exit $rc (counted as 1 failed)"
        return
    fi
    record "$part" "$passed" "$failed" "$text"
}

part_native() {
    configure_and_build native "$root/build" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DIOCPD_SANITIZE=OFF -DIOCPD_WERROR=ON \
        -DIOCPD_TEST_PLATFORM=native -DIOCPD_TEST_WRAPPER= || return
    run_ctest native "$root/build" "$jobs"
}

part_asan() {
    local cc=gcc
    if command -v clang >/dev/null 2>&1; then
        cc=clang
    fi
    configure_and_build asan "$root/build-asan" \
        -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DIOCPD_SANITIZE=ON -DIOCPD_WERROR=ON \
        -DIOCPD_TEST_PLATFORM=native -DIOCPD_TEST_WRAPPER= || return
    # Any sanitizer report fails the test that caused it; leaks included.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        run_ctest asan "$root/build-asan" "$jobs"
}

wine_started=0
stop_wine() {
    if [ "$wine_started" = 1 ]; then
        wine_started=0
        eval "$(bash "$root/tests/wine/prefix.sh" stop)"
    fi
}
trap stop_wine EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

part_wine() {
    local prefix_env
    configure_and_build wine "$root/build-win" \
        -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64.cmake" -DIOCPD_WERROR=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DIOCPD_TEST_PLATFORM=wine -DIOCPD_TEST_WRAPPER="$wrapper" || return
    log "wine: starting a private Wine prefix"
    # Our own prefix always: never run the tests in the caller's. Services
    # (blackbox.service_*) inherit the environment of services.exe, fixed
    # here: WINEDLLPATH lets iocpd.exe load the inih shim of this build when
    # the SCM starts it, and the debug channels put every ReportEventW call
    # (its text with +eventlog, its type and event id with fixme+advapi)
    # into $IOCPD_WINE_LOG, where the test reads the Event Log.
    if ! prefix_env=$(env -u WINEPREFIX \
        IOCPD_WINE_SERVICE_DEBUG="${IOCPD_WINE_SERVICE_DEBUG:--all,+eventlog,fixme+advapi}" \
        WINEDLLPATH="$root/build-win${WINEDLLPATH:+:$WINEDLLPATH}" \
        bash "$root/tests/wine/prefix.sh" start); then
        record wine 0 1 "Wine prefix setup failed (counted as 1 failed)"
        return
    fi
    wine_started=1
    eval "$prefix_env"
    echo "WINEPREFIX=$WINEPREFIX"
    run_ctest wine "$root/build-win" "$wine_jobs"
    stop_wine
}

for part in "$@"; do
    case $part in
    native) part_native ;;
    asan) part_asan ;;
    wine) part_wine ;;
    *)
        echo "test-all: unknown part '$part' (native, asan, wine)" >&2
        record "$part" 0 1 "unknown part (counted as 1 failed)"
        ;;
    esac
done

log "summary"
for s in "${summaries[@]}"; do
    echo "$s"
done
echo "$total_passed passed, $total_failed failed"
exit "$status"
