#!/usr/bin/env bash
# bench/run.sh: iocpd against other relays and echo servers, on loopback.
#
#   bash bench/run.sh [--quick] [--no-install] [--no-wine] [--rounds N]
#                     [--only LIST] [--write | --no-write] [--keep]
#                     [--wine-exe PATH]
#
#   --quick       a smoke run of about two minutes: one round, short runs,
#                 1,000 instead of 10,000 idle connections (and UDP
#                 sessions), 1.5 s E4 runs,
#                 4 instead of 10 R5 reloads;
#                 its report goes to stdout and the work directory, not to
#                 BENCHMARKS.md
#   --no-install  never call apt-get; contenders that are missing are skipped
#   --no-wine     skip the Wine (iocpd.exe against an asio IOCP peer) part
#   --rounds N    rounds per scenario (default 3; medians are taken over them)
#   --only LIST   run only these scenarios, comma-separated: r1, r2, r3, r4,
#                 r5, r6, e123, e4, u1, u2, u3, wine (e.g. --only r5); udp
#                 stands for u1,u2,u3; the report has only them, and
#                 BENCHMARKS.md is not written unless --write
#   --write       write BENCHMARKS.md even with --quick
#   --no-write    do not write BENCHMARKS.md
#   --keep        keep the work directory (configs, logs, raw results)
#   --wine-exe PATH  run this iocpd.exe in the Wine part instead of the one
#                 built from the tree (e.g. a build of an older commit, to
#                 compare; Wine must find inih.dll.so in its folder or a
#                 parent, as in a build directory)
#
# Environment: BENCH_PORT_BASE (default 29100; ports BASE..BASE+199 on
# 127.0.0.1 must be free), BENCH_WORKERS (threads/processes each server may
# use, default 1), IOCPD_BENCH_CACHE (build directory, default
# /tmp/iocpd-bench-cache; builds are incremental).
#
# What it does, in order: installs what is missing (as root, through
# apt-get), builds the bench tools, iocpd (Release) and, for the Wine part,
# iocpd.exe and bench/asio_echo.exe; then runs each scenario with its
# contenders interleaved in rounds (A B C A B C ...), takes medians, and
# prints one table per scenario and a MET / NOT MET line per target. No
# target makes the script fail: the exit status is 0 unless the harness
# itself broke. bench/README.md describes the scenarios.
#
# Only 127.0.0.1 is used, every run is bounded in time and size, and every
# process started here is stopped by its own process id on exit.

# shellcheck source-path=SCRIPTDIR
set -uo pipefail

# This file only puts the parts in order; each file of bench/lib/ does one
# job (bench/README.md, "Layout").
lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/lib
# shellcheck source=lib/settings.sh
. "$lib/settings.sh"
parse_options "$@"
# The other files derive their constants (ports, build paths) from the
# settings, so they come after parse_options.
# shellcheck source=lib/common.sh
. "$lib/common.sh"
# shellcheck source=lib/setup.sh
. "$lib/setup.sh"
# shellcheck source=lib/contenders.sh
. "$lib/contenders.sh"
# shellcheck source=lib/report.sh
. "$lib/report.sh"
# shellcheck source=lib/scenarios_relay.sh
. "$lib/scenarios_relay.sh"
# shellcheck source=lib/scenarios_reload.sh
. "$lib/scenarios_reload.sh"
# shellcheck source=lib/scenarios_proxy.sh
. "$lib/scenarios_proxy.sh"
# shellcheck source=lib/scenarios_echo.sh
. "$lib/scenarios_echo.sh"
# shellcheck source=lib/scenarios_udp.sh
. "$lib/scenarios_udp.sh"
# shellcheck source=lib/scenarios_wine.sh
. "$lib/scenarios_wine.sh"

# The scenarios, in the order they run and are reported, one row each:
# "NAME WHERE". NAME_run measures and records, NAME_report prints its
# section of the report and NAME_targets its MET / NOT MET lines (in
# bench/lib/scenarios_*.sh). WHERE is native (runs while the epoll_echo
# upstream listens on p_echo) or wine (runs after the native ones, unless
# the Wine part is off or could not be built).
scenarios=(
    "r1 native"   # R1: bulk throughput through each relay
    "r2 native"   # R2: small messages through each relay
    "r3 native"   # R3: connection rate through each relay
    "r4 native"   # R4: memory per idle relayed connection
    "r5 native"   # R5: reloads under load, failures and p99 during them
    "r6 native"   # R6: R2 and R3 through iocpd with send_proxy = v2
    "e123 native" # E1-E3: echo servers, 1 / 50 / 1000 connections
    "e4 native"   # E4: 300 bulk echo streams, fairness between them
    "u1 native"   # U1: 64 B UDP ping-pong through each UDP relay, 50 sessions
    "u2 native"   # U2: 1,400 B UDP datagrams streamed through each UDP relay
    "u3 native"   # U3: memory per idle UDP session
    "wine wine"   # W-*: iocpd.exe and the asio peer under Wine (echo, bulk, relay, connection rate)
)

# Group names --only also takes: udp is the three UDP scenarios.
only=$(printf ',%s,' "$only" | sed 's/,udp,/,u1,u2,u3,/g; s/^,//; s/,$//')

# selected NAME: whether --only (if given) lists the scenario NAME.
selected() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

# With --only, every name must be a scenario of the table.
for name in ${only//,/ }; do
    known=0
    for row in "${scenarios[@]}"; do [ "${row%% *}" = "$name" ] && known=1; done
    if [ "$known" = 0 ]; then
        echo "run.sh: --only: no scenario '$name' (see --help)" >&2
        exit 2
    fi
done
# A partial run does not replace BENCHMARKS.md unless asked to.
[ -z "$only" ] || write=${write_asked:-0}

# run_scenarios WHERE: runs the rows of the table that run WHERE, in order.
run_scenarios() {
    local row name where
    for row in "${scenarios[@]}"; do
        read -r name where <<<"$row"
        if [ "$where" = "$1" ] && selected "$name"; then
            "${name}_run"
        fi
    done
}

make_workdir
raise_fd_limit
install_missing
build_tools
build_iocpd
build_wine
check_ports
clock_start
detect_contenders
log "work directory $work; fd limit $fdlimit; load average $loadavg_start"

start_upstream || {
    echo "run.sh: the upstream echo server did not start" >&2
    exit 1
}
run_scenarios native
stop_upstream
if [ "$wine" = 1 ]; then
    # The Wine relays forward to the same native upstream, started afresh.
    start_upstream
    run_scenarios wine
    stop_upstream
else
    wine_note=${wine_note:-skipped (--no-wine)}
fi
clock_stop

compute_medians
names=()
for row in "${scenarios[@]}"; do
    selected "${row%% *}" && names+=("${row%% *}")
done
publish "$(document "${names[@]}")"
log "done in ${elapsed} s"
