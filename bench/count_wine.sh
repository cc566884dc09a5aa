#!/usr/bin/env bash
# bench/count_wine.sh: counts the wineserver requests (Wine's kernel round
# trips) that iocpd.exe and the asio peer make per echoed message, per
# relayed message and per connection, under Wine.
#
#   bash bench/count_wine.sh [--iocpd-exe PATH] [--messages N] [--connections N]
#                            [--keep]
#
#   --iocpd-exe PATH  count this iocpd.exe instead of building one (e.g. a
#                     build of an older commit; inih.dll.so must be in its
#                     folder or a parent, as in a build directory)
#   --messages N      messages per measured echo run (default 2000)
#   --connections N   connections per measured connection-rate run
#                     (default 400)
#   --parallel N      connections at once in every run (default 1; e.g. 50
#                     to see what batching under load does, 16 for the
#                     load of bench/run.sh's W-connrate)
#   --keep            keep the work directory (configs, logs, the trace)
#
# Under Wine every kernel call a Windows program makes (a socket operation,
# a wait on a completion port, a posted packet) is a request to the
# wineserver, so the requests a program makes per operation are its
# kernel round trips. The wineserver of a private prefix runs with its
# request trace on (tests/wine/prefix.sh, IOCPD_WINE_SERVER_TRACE), and
# only the requests of the measured program's own threads are counted.
# The servers are started as in bench/run.sh's Wine part (contenders.sh:
# iocpd.exe with workers = 1 with an echo and a forward listener, and
# asio_echo.exe as an echo server and as a relay, one thread each); the
# relays forward to a native epoll_echo. The native loadgen drives them one
# connection at a time (-c 1) with a fixed count (-n), so nothing depends on
# the load or the speed of the machine:
#   echo message      loadgen echo -c 1 -s 64 against the echo server
#   echo connection   loadgen connrate -c 1 -s 1024 (connect, 1 KiB each
#                     way, close) against the echo server
#   relay message     loadgen echo -c 1 -s 64 through the relay
#   relay connection  loadgen connrate -c 1 -s 1024 through the relay
# Each is run twice, with N/10 and N + N/10 operations, and the figure is
# the difference of the two counts divided by N: what a run costs once (its
# connection in the message runs, the quiet second after each run) cancels
# out. The report (stdout, Markdown) gives the requests per operation, in
# total and by request type.
#
# Environment: as bench/run.sh (BENCH_PORT_BASE, IOCPD_BENCH_CACHE).
# Builds what is missing like bench/run.sh (never installs packages).

# shellcheck source-path=SCRIPTDIR
set -uo pipefail

lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/lib
# shellcheck source=lib/settings.sh
. "$lib/settings.sh"

exe_arg=
messages=2000
connections=400
parallel=1
keep_arg=
while [ $# -gt 0 ]; do
    case $1 in
    --iocpd-exe | --messages | --connections | --parallel)
        if [ $# -lt 2 ] || [ -z "$2" ]; then
            echo "count_wine.sh: $1 needs a value" >&2
            exit 2
        fi
        case $1 in
        --iocpd-exe) exe_arg=$(realpath -- "$2") ;;
        --messages) messages=$2 ;;
        --connections) connections=$2 ;;
        --parallel) parallel=$2 ;;
        esac
        shift
        ;;
    --keep) keep_arg=--keep ;;
    -h | --help)
        sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *)
        echo "count_wine.sh: unknown option '$1' (try --help)" >&2
        exit 2
        ;;
    esac
    shift
done
for n in "$messages" "$connections"; do
    case $n in
    '' | *[!0-9]* | ?)
        echo "count_wine.sh: --messages and --connections need a number >= 10" >&2
        exit 2
        ;;
    esac
done
case $parallel in
'' | *[!0-9]* | 0)
    echo "count_wine.sh: --parallel needs a positive number" >&2
    exit 2
    ;;
esac
if [ -n "$exe_arg" ] && [ ! -f "$exe_arg" ]; then
    echo "count_wine.sh: no such file: $exe_arg" >&2
    exit 2
fi

# The bench's settings (ports, cache, workers = 1), without installing.
parse_options --no-install --no-write ${keep_arg:+"$keep_arg"} ${exe_arg:+--wine-exe "$exe_arg"}
# shellcheck source=lib/common.sh
. "$lib/common.sh"
# shellcheck source=lib/setup.sh
. "$lib/setup.sh"
# shellcheck source=lib/contenders.sh
. "$lib/contenders.sh"

make_workdir
trace=$work/server.trace
raise_fd_limit
build_tools
build_wine
if [ "$wine" != 1 ]; then
    echo "count_wine.sh: ${wine_note:-the Wine part cannot run}" >&2
    exit 1
fi
check_ports

start_upstream || {
    echo "count_wine.sh: the upstream echo server did not start" >&2
    exit 1
}
log "starting a private Wine prefix with the wineserver's request trace"
if ! prefix_env=$(env -u WINEPREFIX IOCPD_WINE_SERVER_TRACE="$trace" \
    bash "$root/tests/wine/prefix.sh" start 2>"$work/wine-prefix.log"); then
    cat "$work/wine-prefix.log" >&2
    exit 1
fi
eval "$prefix_env"
wine_started=1
mkdir -p "$work/wine"
if ! start_wine_contenders "$work/wine"; then
    tail -n 5 "$work/wine"/*.log >&2
    echo "count_wine.sh: iocpd.exe or asio_echo.exe did not start under Wine" >&2
    exit 1
fi
log "counting $iocpd_exe"

# trace_size: where the trace ends now, in bytes.
trace_size() { stat -c %s "$trace"; }

# wine_tids PID: the Wine thread ids (4 hex digits, as the trace prints
# them) of the Linux process PID's threads: each thread's first request,
# init_first_thread or init_thread, names its Linux thread id.
wine_tids() {
    local t
    for t in /proc/"$1"/task/*; do
        grep -E "^[0-9a-f]{4,}: init_(first_)?thread\( (unix_pid=[0-9]+, )?unix_tid=${t##*/}," \
            "$trace" | tail -n 1 | cut -d: -f1
    done
}

# count_requests FROM TO TIDS...: "TYPE COUNT" for each request type the
# threads TIDS made between bytes FROM and TO of the trace, and "total N".
# A request line is "TID: name( args )"; its reply, "TID: name() = ...",
# and the server's own events ("TID: *fd*", "*wakeup*") are not requests.
count_requests() {
    local from=$1 to=$2
    shift 2
    tail -c +"$((from + 1))" "$trace" | head -c "$((to - from))" |
        awk -v tids="$*" '
            # The AFD ioctl codes that Wine 8 uses for socket calls, by
            # name (Wine include/wine/afd.h); others keep their number.
            function ioctl_name(code) {
                if (code in afd) return afd[code]
                return code
            }
            BEGIN {
                n = split(tids, t, " "); for (i = 1; i <= n; i++) want[t[i]] = 1
                split("00012003:bind 00120320:create 00120324:accept 00120328:accept_into " \
                      "0012032c:connect 00120330:shutdown 00120334:recvmsg 00120338:sendmsg " \
                      "00120344:fionbio 00120348:complete_async 0012034c:fionread " \
                      "00120360:getpeername 00120368:get_info 0012036c:get_so_acceptconn " \
                      "0001202f:getsockname", pairs, " ")
                for (i in pairs) { split(pairs[i], kv, ":"); afd[kv[1]] = kv[2] }
            }
            {
                tid = $1; sub(/:$/, "", tid)
                if (!(tid in want) || $2 !~ /^[a-z_0-9]+\(/ || index($0, ") = ") > 0) next
                name = $2; sub(/\(.*/, "", name)
                # Socket calls are all "ioctl": name them by their code.
                if (name == "ioctl" && match($0, /code=[0-9a-f]+/))
                    name = "ioctl:" ioctl_name(substr($0, RSTART + 5, RLENGTH - 5))
                count[name]++; total++
            }
            END { for (k in count) print k, count[k]; print "total", total + 0 }'
}

# measure PROGRAM PID MODE PORT COUNT: runs loadgen MODE with --parallel
# connections at once and COUNT operations against PORT, and writes the
# requests of process PID during the run (and a quiet second after it) to
# $work/counts/PROGRAM.MODE.PORT.COUNT.
measure() {
    local prog=$1 pid=$2 mode=$3 port=$4 n=$5 from to size=64 conns=$parallel j
    [ "$mode" = connrate ] && size=1024
    sleep 0.5
    from=$(trace_size)
    j=$(loadgen "$mode" -p "$port" -c "$conns" -s "$size" -n "$n" -d 600 -l "count $prog $mode")
    if [ "$(printf '%s' "$j" | json .ok)" != true ]; then
        log "$prog $mode $n: the loadgen run failed"
        return 1
    fi
    sleep 1
    to=$(trace_size)
    # shellcheck disable=SC2046 # one argument per thread id
    count_requests "$from" "$to" $(wine_tids "$pid") >"$work/counts/$prog.$mode.$port.$n"
}

# per_op_counts FILE_SMALL FILE_BIG OPS: "TYPE PER_OP" lines, the
# difference of two counts divided by OPS.
per_op_counts() {
    awk -v ops="$3" 'FNR == NR { a[$1] = $2; next } { b[$1] = $2 }
        END {
            for (k in a) if (!(k in b)) b[k] = 0
            for (k in b) printf "%s %.2f\n", k, (b[k] - a[k]) / ops
        }' "$1" "$2"
}

mkdir -p "$work/counts" "$work/per-op"
small_m=$((messages / 10))
big_m=$((messages + small_m))
small_c=$((connections / 10))
big_c=$((connections + small_c))
# "WHAT MODE PROGRAM PORT PID_NAME": the four figures, for both programs.
rows=(
    "echo-message echo iocpd.exe $p_w_iocpd_echo iocpd.exe"
    "echo-message echo asio $p_w_asio_echo asio-echo"
    "echo-connection connrate iocpd.exe $p_w_iocpd_echo iocpd.exe"
    "echo-connection connrate asio $p_w_asio_echo asio-echo"
    "relay-message echo iocpd.exe $p_w_iocpd_relay iocpd.exe"
    "relay-message echo asio $p_w_asio_relay asio-relay"
    "relay-connection connrate iocpd.exe $p_w_iocpd_relay iocpd.exe"
    "relay-connection connrate asio $p_w_asio_relay asio-relay"
)
for row in "${rows[@]}"; do
    read -r what mode prog port pid_name <<<"$row"
    if [ "$mode" = echo ]; then
        small=$small_m big=$big_m ops=$messages
    else
        small=$small_c big=$big_c ops=$connections
    fi
    log "$what, $prog: $small and $big operations"
    measure "$prog" "${w_pid[$pid_name]}" "$mode" "$port" "$small" &&
        measure "$prog" "${w_pid[$pid_name]}" "$mode" "$port" "$big" &&
        per_op_counts "$work/counts/$prog.$mode.$port.$small" "$work/counts/$prog.$mode.$port.$big" \
            "$ops" >"$work/per-op/$what.$prog"
done
stop_wine_contenders
eval "$(bash "$root/tests/wine/prefix.sh" stop 2>/dev/null)"
wine_started=0
stop_upstream

# per_op WHAT PROGRAM TYPE: one figure of the results ("" if not measured).
per_op() {
    [ -f "$work/per-op/$1.$2" ] || return 0
    awk -v k="$3" '$1 == k { print $2; found = 1 } END { if (!found) print "0.00" }' \
        "$work/per-op/$1.$2"
}

echo "### Wineserver requests per operation (iocpd.exe workers = 1, asio one thread)"
echo
echo "$(date -u +%Y-%m-%d), $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')," \
    "iocpd.exe: ${exe_arg:-built from the worktree}; $messages messages," \
    "$connections connections per figure, $parallel at a time (bash bench/count_wine.sh)."
echo
echo "| operation | iocpd.exe | asio | iocpd.exe - asio |"
echo "| --- | ---: | ---: | ---: |"
for what in echo-message echo-connection relay-message relay-connection; do
    i=$(per_op "$what" iocpd.exe total)
    a=$(per_op "$what" asio total)
    echo "| ${what/-/ } | ${i:-n/a} | ${a:-n/a} | $(sub "${i:-0}" "${a:-0}") |"
done
echo
for what in echo-message echo-connection relay-message relay-connection; do
    echo "By request type, per ${what/-/ } (types at 0.05 or more):"
    echo
    echo "| request | iocpd.exe | asio |"
    echo "| --- | ---: | ---: |"
    cat "$work/per-op/$what".* 2>/dev/null | awk '$1 != "total" { print $1 }' | sort -u |
        while read -r type; do
            i=$(per_op "$what" iocpd.exe "$type")
            a=$(per_op "$what" asio "$type")
            awk -v i="${i:-0}" -v a="${a:-0}" 'BEGIN { exit !(i >= 0.05 || a >= 0.05 || i <= -0.05 || a <= -0.05) }' &&
                echo "| $type | ${i:-n/a} | ${a:-n/a} |"
        done
    echo
done
