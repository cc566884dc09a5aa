#!/usr/bin/env bash
# bench/run.sh: iocpd against other relays and echo servers, on loopback.
#
#   bash bench/run.sh [--quick] [--no-install] [--no-wine] [--rounds N]
#                     [--write | --no-write] [--keep]
#
#   --quick       a smoke run of about two minutes: one round, short runs,
#                 1,000 instead of 10,000 idle connections, 1.5 s E4 runs;
#                 its report goes to stdout and the work directory, not to
#                 BENCHMARKS.md
#   --no-install  never call apt-get; contenders that are missing are skipped
#   --no-wine     skip the Wine (iocpd.exe against an asio IOCP peer) part
#   --rounds N    rounds per scenario (default 3; medians are taken over them)
#   --write       write BENCHMARKS.md even with --quick
#   --no-write    do not write BENCHMARKS.md
#   --keep        keep the work directory (configs, logs, raw results)
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

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=$(dirname "$here")
cmdline="bash bench/run.sh${*:+ $*}"

quick=0
install=1
wine=1
rounds=
write=
keep=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --no-install) install=0 ;;
    --no-wine) wine=0 ;;
    --rounds)
        rounds=${2:-}
        shift
        ;;
    --write) write=1 ;;
    --no-write) write=0 ;;
    --keep) keep=1 ;;
    -h | --help)
        sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
    *)
        echo "run.sh: unknown option '$1' (try --help)" >&2
        exit 2
        ;;
    esac
    shift
done

if [ "$quick" = 1 ]; then
    rounds=${rounds:-1}
    t_bulk=1         # iperf3 seconds per R1 run
    t_msg=1          # seconds per echo / connrate run
    warm=0.2         # echo warm-up seconds, not measured
    idle_big=1000    # R4 connections for the relays that scale
    idle_hold=0.5
    t_wine=1.5
    t_e4=1.5         # seconds per E4 run, after its warm-up
    warm_e4=0.5
    write=${write:-0}
else
    rounds=${rounds:-3}
    t_bulk=3
    t_msg=2.5
    warm=0.3
    idle_big=10000
    idle_hold=1
    t_wine=3
    t_e4=5
    warm_e4=1
    write=${write:-1}
fi
case $rounds in
'' | *[!0-9]* | 0)
    echo "run.sh: --rounds needs a positive number" >&2
    exit 2
    ;;
esac
workers=${BENCH_WORKERS:-1}
base=${BENCH_PORT_BASE:-29100}
cache=${IOCPD_BENCH_CACHE:-/tmp/iocpd-bench-cache}
wine_conns=20  # the Wine runs: E2-like and R2-like, with fewer connections
e4_conns=300   # E4: concurrent bulk echo streams
e4_window=1048576 # E4: bytes each stream may have unechoed

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ----------------------------------------------------------------------------
# Ports, work directory, clean-up

p_echo=$base              # epoll_echo: the upstream of R2-R4 relays
p_iperf=$((base + 1))     # iperf3 server: the upstream of R1 relays
p_e_iocpd=$((base + 20))  # E1-E3 servers
p_e_epoll=$((base + 21))
p_e_node=$((base + 22))
p_e4_iocpd=$((base + 23)) # E4 servers (iocpd twice: BENCH_WORKERS and the default)
p_e4_iocpd_auto=$((base + 24))
p_e4_epoll=$((base + 25))
p_e4_node=$((base + 26))
p_w_iocpd_echo=$((base + 30)) # Wine
p_w_iocpd_relay=$((base + 31))
p_w_asio_echo=$((base + 32))
p_w_asio_relay=$((base + 33))
# Relays listen on BASE + 100 + 10 * scenario + contender index: a fresh
# port per scenario, so no restart ever binds over another's TIME_WAIT.

work=$(mktemp -d "${TMPDIR:-/tmp}/iocpd-bench.XXXXXX")
results=$work/results.tsv
: >"$results"
cd "$work" || exit 1
started=()      # process ids started by this script
wine_started=0

# Kills pid and everything below it, by process id, and reaps it.
kill_tree() {
    local pid=$1 kids k i
    [ -n "$pid" ] || return 0
    kids=$(descendants "$pid")
    kill -TERM "$pid" $kids 2>/dev/null
    for i in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    for k in $pid $kids; do
        kill -KILL "$k" 2>/dev/null
    done
    wait "$pid" 2>/dev/null
    return 0
}

# The process ids below $1, from one snapshot of the process table.
descendants() {
    ps -e -o pid= -o ppid= 2>/dev/null | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            for (p in parent) {
                for (q = parent[p]; q != "" && q != 0 && q != 1; q = parent[q])
                    if (q == root) { print p; break }
            }
        }'
}

cleanup() {
    local pid
    for pid in "${started[@]}"; do
        kill_tree "$pid"
    done
    started=()
    if [ "$wine_started" = 1 ]; then
        wine_started=0
        eval "$(bash "$root/tests/wine/prefix.sh" stop 2>/dev/null)"
    fi
    if [ "$keep" = 1 ]; then
        log "work directory kept: $work"
    else
        rm -rf -- "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget() {
    local pid=$1 i
    for i in "${!started[@]}"; do
        [ "${started[$i]}" = "$pid" ] && unset 'started[i]'
    done
}

stop_pid() {
    kill_tree "$1"
    forget "$1"
}

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# Waits until something listens on port $1 (and process $2 still lives).
wait_port() {
    local port=$1 pid=$2 secs=${3:-10} i
    for i in $(seq 1 $((secs * 20))); do
        listening "$port" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# ----------------------------------------------------------------------------
# Dependencies and builds

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
fdlimit=$(ulimit -n)

need_pkgs=(haproxy nginx libnginx-mod-stream rinetd socat iperf3 jq nodejs iproute2
    cmake ninja-build gcc libc6-dev libinih-dev)
if [ "$wine" = 1 ]; then
    need_pkgs+=(libasio-dev g++-mingw-w64-x86-64 gcc-mingw-w64-x86-64 wine wine64 wine64-tools)
fi
missing=()
for p in "${need_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$install" = 1 ] && [ "$(id -u)" = 0 ]; then
        log "installing: ${missing[*]}"
        # The packages must not start their own daemons (nginx on port 80,
        # haproxy...): a policy-rc.d that forbids it, only for this install
        # and only if the system has none.
        policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
            policy=1
        fi
        apt-get update -qq >"$work/apt.log" 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$work/apt.log" 2>&1 ||
            log "apt-get install failed (see below); going on with what is there"
        [ "$policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
        tail -n 3 "$work/apt.log" >&2
    else
        log "missing packages (not installing): ${missing[*]}"
    fi
fi
for t in jq ss cc cmake; do
    command -v "$t" >/dev/null || {
        echo "run.sh: '$t' is required" >&2
        exit 1
    }
done

mkdir -p "$cache/bin"
bin=$cache/bin
log "building the bench tools"
for t in loadgen epoll_echo proctree; do
    if [ ! -x "$bin/$t" ] || [ "$here/$t.c" -nt "$bin/$t" ]; then
        cc -O2 -std=c11 -Wall -Wextra -Wstrict-prototypes -pedantic -o "$bin/$t" "$here/$t.c" ||
            exit 1
    fi
done
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)

log "building iocpd (Release)"
iocpd=$cache/native/iocpd
if ! { cmake -S "$root" -B "$cache/native" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DIOCPD_BUILD_TESTS=OFF >"$work/build-native.log" 2>&1 &&
    cmake --build "$cache/native" --target iocpd >>"$work/build-native.log" 2>&1; }; then
    cat "$work/build-native.log" >&2
    echo "run.sh: the native iocpd build failed" >&2
    exit 1
fi

wine_note=
if [ "$wine" = 1 ]; then
    log "building iocpd.exe and asio_echo.exe for the Wine part"
    if ! command -v x86_64-w64-mingw32-g++-posix >/dev/null || [ ! -e /usr/include/asio.hpp ] ||
        ! command -v wine >/dev/null; then
        wine=0
        wine_note="skipped: mingw-w64 g++, libasio-dev or wine is missing"
    elif ! { cmake -S "$root" -B "$cache/win" "${gen[@]}" \
        -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64.cmake" -DCMAKE_BUILD_TYPE=Release \
        -DIOCPD_BUILD_TESTS=OFF >"$work/build-win.log" 2>&1 &&
        cmake --build "$cache/win" >>"$work/build-win.log" 2>&1; }; then
        tail -n 20 "$work/build-win.log" >&2
        wine=0
        wine_note="skipped: the Windows cross build of iocpd failed"
    else
        # The asio headers go into a private folder: -I/usr/include would
        # drag glibc's headers into the mingw build.
        if [ ! -e "$cache/asio-include/asio.hpp" ] ||
            [ /usr/include/asio.hpp -nt "$cache/asio-include/asio.hpp" ]; then
            rm -rf "$cache/asio-include"
            mkdir -p "$cache/asio-include"
            cp -r /usr/include/asio /usr/include/asio.hpp "$cache/asio-include/"
        fi
        if [ ! -e "$bin/asio_echo.exe" ] || [ "$here/asio_echo.cpp" -nt "$bin/asio_echo.exe" ]; then
            if ! x86_64-w64-mingw32-g++-posix -std=c++17 -D_WIN32_WINNT=0x0601 -O2 \
                -I"$cache/asio-include" -o "$bin/asio_echo.exe" "$here/asio_echo.cpp" \
                -lws2_32 -lmswsock -static >"$work/build-asio.log" 2>&1; then
                tail -n 20 "$work/build-asio.log" >&2
                wine=0
                wine_note="skipped: bench/asio_echo.cpp did not build"
            fi
        fi
    fi
fi

# Every port we use must be free before anything starts.
for p in $p_echo $p_iperf $p_e_iocpd $p_e_epoll $p_e_node $p_e4_iocpd $p_e4_iocpd_auto \
    $p_e4_epoll $p_e4_node $p_w_iocpd_echo $p_w_iocpd_relay \
    $p_w_asio_echo $p_w_asio_relay $(seq $((base + 100)) $((base + 160))); do
    if listening "$p"; then
        echo "run.sh: port $p is in use; set BENCH_PORT_BASE to a free range" >&2
        exit 1
    fi
done

# ----------------------------------------------------------------------------
# Measuring

loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)

# "CPU_SECONDS RSS_KIB PSS_KIB PROCESSES" of a process tree ("0 0 0 0" if none).
proc_stats() {
    if [ -z "${1:-}" ]; then
        echo "0 0 0 0"
    else
        "$bin/proctree" "$1" 2>/dev/null || echo "0 0 0 0"
    fi
}

# record SCENARIO CONTENDER ROUND KEY VALUE
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
# per_op CPU_SECONDS COUNT: microseconds of CPU per operation.
per_op() { awk -v c="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f", c * 1e6 / n }'; }

# ----------------------------------------------------------------------------
# Contenders

relays=(direct iocpd haproxy haproxy-splice nginx rinetd socat)
declare -A have
have[direct]=1
have[iocpd]=1
command -v haproxy >/dev/null && have[haproxy]=1 && have[haproxy-splice]=1
command -v nginx >/dev/null && [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] && have[nginx]=1
command -v rinetd >/dev/null && have[rinetd]=1
command -v socat >/dev/null && have[socat]=1

relay_index() {
    local i
    for i in "${!relays[@]}"; do
        [ "${relays[$i]}" = "$1" ] && echo "$i" && return
    done
}

# start_relay NAME LISTEN_PORT UPSTREAM_PORT: sets relay_pid ("" for
# direct) and relay_port (where clients connect). Returns 1 if it failed.
start_relay() {
    local name=$1 lp=$2 up=$3 dir=$work/$1-$2 maxconn
    relay_pid=
    relay_port=$lp
    mkdir -p "$dir"
    # Half the descriptors for each side, less some for the process itself.
    maxconn=$(((fdlimit - 200) / 2))
    case $name in
    direct)
        relay_port=$up
        return 0
        ;;
    iocpd)
        cat >"$dir/iocpd.ini" <<EOF
[service]
workers = $workers
drain_timeout = 1s
log_level = warning

[listener:relay]
listen = 127.0.0.1:$lp
handler = forward
upstream = 127.0.0.1:$up
connect_timeout = 5s
idle_timeout = 10m
buffer_size = 64k
EOF
        "$iocpd" run -c "$dir/iocpd.ini" >"$dir/log" 2>&1 &
        ;;
    haproxy | haproxy-splice)
        # With splicing HAProxy also reserves a pipe (two descriptors) for
        # every fourth connection; it refuses to start if the descriptor
        # limit cannot cover maxconn that way.
        [ "$name" = haproxy-splice ] && maxconn=$(((fdlimit - 200) / 3))
        {
            printf 'global\n    maxconn %s\n    nbthread %s\n' "$maxconn" "$workers"
            printf 'defaults\n    mode tcp\n    maxconn %s\n' "$maxconn"
            printf '    timeout connect 5s\n    timeout client 10m\n    timeout server 10m\n'
            printf 'listen relay\n    bind 127.0.0.1:%s\n' "$lp"
            if [ "$name" = haproxy-splice ]; then
                printf '    option splice-request\n    option splice-response\n'
            fi
            printf '    server up 127.0.0.1:%s\n' "$up"
        } >"$dir/haproxy.cfg"
        haproxy -db -f "$dir/haproxy.cfg" >"$dir/log" 2>&1 &
        ;;
    nginx)
        cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes $workers;
worker_rlimit_nofile $fdlimit;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
events { worker_connections $((fdlimit - 200)); }
stream {
    server {
        listen 127.0.0.1:$lp;
        proxy_pass 127.0.0.1:$up;
    }
}
EOF
        nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/log" 2>&1 &
        ;;
    rinetd)
        printf '127.0.0.1 %s 127.0.0.1 %s\n' "$lp" "$up" >"$dir/rinetd.conf"
        rinetd -f -c "$dir/rinetd.conf" >"$dir/log" 2>&1 &
        ;;
    socat)
        # backlog=1024: socat's default listen backlog of 5 loses
        # connections in the bursts of R3 and R4 (the others default to
        # hundreds or thousands).
        socat -b 65536 "TCP-LISTEN:$lp,bind=127.0.0.1,fork,reuseaddr,backlog=1024" \
            "TCP:127.0.0.1:$up" \
            >"$dir/log" 2>&1 &
        ;;
    esac
    relay_pid=$!
    started+=("$relay_pid")
    if ! wait_port "$lp" "$relay_pid" 10; then
        log "$name did not start; its log:"
        tail -n 5 "$dir/log" "$dir/error.log" 2>/dev/null >&2
        stop_pid "$relay_pid"
        relay_pid=
        return 1
    fi
    return 0
}

stop_relay() {
    [ -n "${relay_pid:-}" ] && stop_pid "$relay_pid"
    relay_pid=
}

# Runs loadgen, prints its JSON line; logs the human line. Returns loadgen's
# status.
loadgen() {
    local out rc
    out=$("$bin/loadgen" "$@" 2>"$work/loadgen.err")
    rc=$?
    printf '%s\n' "$out" >>"$work/runs.jsonl"
    grep -v '^loadgen: idle:' "$work/loadgen.err" | sed 's/^/    /' >&2
    printf '%s\n' "$out"
    return $rc
}

json() { jq -r "$1 // empty" 2>/dev/null; }

# ----------------------------------------------------------------------------
# R1: bulk throughput, iperf3 client -> relay -> iperf3 server

run_r1() {
    local r name lp j before after cpu bytes bps
    log "R1: bulk throughput through each relay (iperf3, ${t_bulk} s per run, $rounds rounds)"
    iperf3 -s -p "$p_iperf" -B 127.0.0.1 >"$work/iperf3-server.log" 2>&1 &
    iperf_pid=$!
    started+=("$iperf_pid")
    wait_port "$p_iperf" "$iperf_pid" 10 || {
        log "iperf3 server did not start"
        return
    }
    for r in $(seq 1 "$rounds"); do
        for name in "${relays[@]}"; do
            [ -n "${have[$name]:-}" ] || continue
            lp=$((base + 110 + $(relay_index "$name")))
            start_relay "$name" "$lp" "$p_iperf" || continue
            before=$(proc_stats "$relay_pid")
            j=$(timeout $((t_bulk + 20)) iperf3 -c 127.0.0.1 -p "$relay_port" -t "$t_bulk" -J \
                --connect-timeout 3000 2>/dev/null)
            after=$(proc_stats "$relay_pid")
            stop_relay
            bps=$(printf '%s' "$j" | json .end.sum_received.bits_per_second)
            bytes=$(printf '%s' "$j" | json .end.sum_received.bytes)
            if [ -z "$bps" ] || [ -z "$bytes" ]; then
                log "R1 round $r $name: iperf3 failed: $(printf '%s' "$j" | json .error)"
                # A failed test can leave the iperf3 server busy: restart it.
                stop_pid "$iperf_pid"
                iperf3 -s -p "$p_iperf" -B 127.0.0.1 >>"$work/iperf3-server.log" 2>&1 &
                iperf_pid=$!
                started+=("$iperf_pid")
                wait_port "$p_iperf" "$iperf_pid" 10
                continue
            fi
            cpu=$(sub "${after%% *}" "${before%% *}")
            record R1 "$name" "$r" gbit "$(awk -v b="$bps" 'BEGIN { printf "%.3f", b / 1e9 }')"
            if [ "$name" != direct ]; then
                record R1 "$name" "$r" cpu_per_gb \
                    "$(awk -v c="$cpu" -v n="$bytes" 'BEGIN { printf "%.3f", c / (n / 1e9) }')"
            fi
            log "R1 round $r $name: $(awk -v b="$bps" 'BEGIN { printf "%.2f", b / 1e9 }') Gbit/s, relay CPU ${cpu} s for $(awk -v n="$bytes" 'BEGIN { printf "%.2f", n / 1e9 }') GB"
        done
    done
    stop_pid "$iperf_pid"
}

# ----------------------------------------------------------------------------
# R2 / R3: messages and connection rate through the relays, to epoll_echo

run_r2_r3() {
    local scen=$1 r name lp j before after cpu
    for r in $(seq 1 "$rounds"); do
        for name in "${relays[@]}"; do
            [ "$name" = haproxy-splice ] && continue # splice moves nothing for small messages
            [ -n "${have[$name]:-}" ] || continue
            if [ "$scen" = R2 ]; then
                lp=$((base + 120 + $(relay_index "$name")))
            else
                lp=$((base + 130 + $(relay_index "$name")))
            fi
            start_relay "$name" "$lp" "$p_echo" || continue
            before=$(proc_stats "$relay_pid")
            if [ "$scen" = R2 ]; then
                j=$(loadgen echo -p "$relay_port" -c 50 -s 64 -d "$t_msg" -w "$warm" \
                    -l "R2 $name")
            else
                j=$(loadgen connrate -p "$relay_port" -c 16 -s 1024 -d "$t_msg" -l "R3 $name")
            fi
            after=$(proc_stats "$relay_pid")
            stop_relay
            cpu=$(sub "${after%% *}" "${before%% *}")
            if [ "$(printf '%s' "$j" | json .ok)" != true ]; then
                log "$scen round $r $name: the run failed"
                continue
            fi
            if [ "$scen" = R2 ]; then
                record R2 "$name" "$r" rate "$(printf '%s' "$j" | json .msgs_per_s)"
                record R2 "$name" "$r" p50 "$(printf '%s' "$j" | json .p50_us)"
                record R2 "$name" "$r" p99 "$(printf '%s' "$j" | json .p99_us)"
                [ "$name" != direct ] && record R2 "$name" "$r" cpu_us \
                    "$(per_op "$cpu" "$(printf '%s' "$j" | json .msgs)")"
            else
                record R3 "$name" "$r" rate "$(printf '%s' "$j" | json .conns_per_s)"
                record R3 "$name" "$r" p99 "$(printf '%s' "$j" | json .p99_us)"
                record R3 "$name" "$r" errors "$(printf '%s' "$j" | json .errors)"
                [ "$name" != direct ] && record R3 "$name" "$r" cpu_us \
                    "$(per_op "$cpu" "$(printf '%s' "$j" | json .conns)")"
            fi
        done
    done
}

# ----------------------------------------------------------------------------
# R4: resident memory per idle relayed connection

# How many idle connections each relay gets: as many as the descriptor
# limit allows (two per relayed connection in the relay), but socat, which
# forks a process of a few MiB per connection, gets 500, and rinetd 2,000:
# its accepting slows down as connections pile up (it took about 60 s to
# reach 8,000 here), which would blow the time budget without changing its
# per-connection figure.
idle_count() {
    local n
    case $1 in
    socat) n=500 ;;
    rinetd) n=2000 ;;
    *)
        n=$idle_big
        [ $((2 * n + 300)) -gt "$fdlimit" ] && n=$(((fdlimit - 300) / 2))
        ;;
    esac
    [ "$quick" = 1 ] && [ "$n" -gt "$idle_big" ] && n=$idle_big
    [ "$quick" = 1 ] && case $1 in socat | rinetd) n=$((n / 4)) ;; esac
    echo "$n"
}

run_r4() {
    local r name lp n j s0 s1 est i lpid
    for r in $(seq 1 "$rounds"); do
        for name in "${relays[@]}"; do
            case $name in direct | haproxy-splice) continue ;; esac
            [ -n "${have[$name]:-}" ] || continue
            lp=$((base + 140 + $(relay_index "$name")))
            n=$(idle_count "$name")
            # A fresh relay each round: memory once grown is rarely returned.
            start_relay "$name" "$lp" "$p_echo" || continue
            sleep 0.3
            s0=$(proc_stats "$relay_pid")
            rm -f "$work/ready"
            "$bin/loadgen" idle -p "$relay_port" -c "$n" -d "$idle_hold" -t 60 -r "$work/ready" \
                -l "R4 $name" >"$work/idle.json" 2>"$work/idle.err" &
            lpid=$!
            started+=("$lpid")
            for i in $(seq 1 1800); do
                [ -e "$work/ready" ] && break
                kill -0 "$lpid" 2>/dev/null || break
                sleep 0.05
            done
            s1=$(proc_stats "$relay_pid")
            wait "$lpid"
            forget "$lpid"
            stop_relay
            sed 's/^/    /' "$work/idle.err" >&2
            j=$(cat "$work/idle.json")
            printf '%s\n' "$j" >>"$work/runs.jsonl"
            est=$(printf '%s' "$j" | json .established)
            if [ -z "$est" ] || [ "$est" = 0 ] || [ ! -e "$work/ready" ]; then
                log "R4 round $r $name: no idle connections held"
                continue
            fi
            # proc_stats: CPU RSS PSS N
            set -- $s0
            local rss0=$2 pss0=$3
            set -- $s1
            local rss1=$2 pss1=$3
            record R4 "$name" "$r" conns "$est"
            record R4 "$name" "$r" asked "$n"
            record R4 "$name" "$r" rss_mib "$(awk -v a="$rss1" -v b="$rss0" 'BEGIN { printf "%.2f", (a - b) / 1024 }')"
            record R4 "$name" "$r" kib_per_conn "$(awk -v a="$rss1" -v b="$rss0" -v n="$est" 'BEGIN { printf "%.2f", (a - b) / n }')"
            record R4 "$name" "$r" pss_kib_per_conn "$(awk -v a="$pss1" -v b="$pss0" -v n="$est" 'BEGIN { printf "%.2f", (a - b) / n }')"
            log "R4 round $r $name: $est connections, RSS $rss0 -> $rss1 KiB ($(awk -v a="$rss1" -v b="$rss0" -v n="$est" 'BEGIN { printf "%.2f", (a - b) / n }') KiB each)"
        done
    done
}

# ----------------------------------------------------------------------------
# E1-E3: echo servers, 1 / 50 / 1000 connections x 64 B

run_echo_servers() {
    local pids=() pid r scen conns name port j before after cpu
    local dir=$work/echo-iocpd
    mkdir -p "$dir"
    cat >"$dir/iocpd.ini" <<EOF
[service]
workers = $workers
drain_timeout = 1s
log_level = warning

[listener:echo]
listen = 127.0.0.1:$p_e_iocpd
handler = echo
idle_timeout = 10m
EOF
    "$iocpd" run -c "$dir/iocpd.ini" >"$dir/log" 2>&1 &
    e_pid[iocpd]=$!
    "$bin/epoll_echo" -p "$p_e_epoll" >"$work/epoll_echo-e.log" 2>&1 &
    e_pid[epoll_echo]=$!
    node "$here/node_echo.js" "$p_e_node" >"$work/node_echo.log" 2>&1 &
    e_pid[node]=$!
    started+=("${e_pid[iocpd]}" "${e_pid[epoll_echo]}" "${e_pid[node]}")
    e_port[iocpd]=$p_e_iocpd
    e_port[epoll_echo]=$p_e_epoll
    e_port[node]=$p_e_node
    for name in iocpd epoll_echo node; do
        wait_port "${e_port[$name]}" "${e_pid[$name]}" 10 || log "echo server $name did not start"
    done
    for scen in E1 E2 E3; do
        case $scen in E1) conns=1 ;; E2) conns=50 ;; E3) conns=1000 ;; esac
        log "$scen: $conns connections x 64 B against each echo server ($rounds rounds)"
        for r in $(seq 1 "$rounds"); do
            for name in iocpd epoll_echo node; do
                before=$(proc_stats "${e_pid[$name]}")
                j=$(loadgen echo -p "${e_port[$name]}" -c "$conns" -s 64 -d "$t_msg" -w "$warm" \
                    -l "$scen $name")
                after=$(proc_stats "${e_pid[$name]}")
                if [ "$(printf '%s' "$j" | json .ok)" != true ]; then
                    log "$scen round $r $name: the run failed"
                    continue
                fi
                cpu=$(sub "${after%% *}" "${before%% *}")
                record "$scen" "$name" "$r" rate "$(printf '%s' "$j" | json .msgs_per_s)"
                record "$scen" "$name" "$r" p50 "$(printf '%s' "$j" | json .p50_us)"
                record "$scen" "$name" "$r" p99 "$(printf '%s' "$j" | json .p99_us)"
                record "$scen" "$name" "$r" cpu_us \
                    "$(per_op "$cpu" "$(printf '%s' "$j" | json .msgs)")"
            done
        done
    done
    for name in iocpd epoll_echo node; do
        stop_pid "${e_pid[$name]}"
    done
}

# ----------------------------------------------------------------------------
# E4: 300 concurrent bulk echo streams, fairness between them

# echo_ini PORT WORKERS: an iocpd config with one echo listener.
echo_ini() {
    cat <<EOF
[service]
workers = $2
drain_timeout = 1s
log_level = warning

[listener:echo]
listen = 127.0.0.1:$1
handler = echo
idle_timeout = 10m
EOF
}

run_e4() {
    local dir=$work/e4 r name j before after cpu bytes kv v
    local names=(iocpd iocpd-auto epoll_echo node)
    local -A pid port
    mkdir -p "$dir"
    echo_ini "$p_e4_iocpd" "$workers" >"$dir/iocpd.ini"
    echo_ini "$p_e4_iocpd_auto" 0 >"$dir/iocpd-auto.ini"
    "$iocpd" run -c "$dir/iocpd.ini" >"$dir/iocpd.log" 2>&1 &
    pid[iocpd]=$!
    "$iocpd" run -c "$dir/iocpd-auto.ini" >"$dir/iocpd-auto.log" 2>&1 &
    pid[iocpd-auto]=$!
    "$bin/epoll_echo" -p "$p_e4_epoll" >"$dir/epoll_echo.log" 2>&1 &
    pid[epoll_echo]=$!
    node "$here/node_echo.js" "$p_e4_node" >"$dir/node_echo.log" 2>&1 &
    pid[node]=$!
    started+=("${pid[iocpd]}" "${pid[iocpd-auto]}" "${pid[epoll_echo]}" "${pid[node]}")
    port[iocpd]=$p_e4_iocpd
    port[iocpd-auto]=$p_e4_iocpd_auto
    port[epoll_echo]=$p_e4_epoll
    port[node]=$p_e4_node
    for name in "${names[@]}"; do
        wait_port "${port[$name]}" "${pid[$name]}" 10 || log "E4 server $name did not start"
    done
    log "E4: $e4_conns bulk echo streams, at most $e4_window B unechoed each, ${t_e4} s ($rounds rounds)"
    for r in $(seq 1 "$rounds"); do
        for name in "${names[@]}"; do
            before=$(proc_stats "${pid[$name]}")
            j=$(loadgen stream -p "${port[$name]}" -c "$e4_conns" -W "$e4_window" -d "$t_e4" \
                -w "$warm_e4" -l "E4 $name")
            after=$(proc_stats "${pid[$name]}")
            if [ "$(printf '%s' "$j" | json .ok)" != true ]; then
                log "E4 round $r $name: the run failed"
                continue
            fi
            cpu=$(sub "${after%% *}" "${before%% *}")
            bytes=$(printf '%s' "$j" | json .bytes)
            # KEY:FIELD; the shares of the median are null (not recorded)
            # when the median connection moved nothing.
            for kv in gbit:gbit_per_s jain:jain min_ratio:min_over_median \
                max_ratio:max_over_median conn_min:conn_mbit_min conn_med:conn_mbit_median \
                conn_max:conn_mbit_max; do
                v=$(printf '%s' "$j" | json ".${kv#*:}")
                [ -n "$v" ] && record E4 "$name" "$r" "${kv%%:*}" "$v"
            done
            # CPU over warm-up and measurement, per GB echoed in the
            # measurement: an upper bound, measured alike for every server.
            record E4 "$name" "$r" cpu_per_gb \
                "$(awk -v c="$cpu" -v n="$bytes" 'BEGIN { if (n > 0) printf "%.3f", c / (n / 1e9) }')"
        done
    done
    for name in "${names[@]}"; do
        stop_pid "${pid[$name]}"
    done
}

# ----------------------------------------------------------------------------
# Wine: iocpd.exe against the asio IOCP peer, both under Wine

run_wine() {
    local prefix_env dir=$work/wine r name scen port j wrapper=$root/tests/wine/iocpd-wine
    log "Wine: starting a private prefix"
    if ! prefix_env=$(env -u WINEPREFIX bash "$root/tests/wine/prefix.sh" start 2>"$work/wine-prefix.log"); then
        wine_note="skipped: the Wine prefix could not be set up"
        log "$wine_note"
        return
    fi
    eval "$prefix_env"
    wine_started=1
    mkdir -p "$dir"
    cat >"$dir/iocpd.ini" <<EOF
[service]
workers = $workers
drain_timeout = 1s
log_level = warning

[listener:echo]
listen = 127.0.0.1:$p_w_iocpd_echo
handler = echo
idle_timeout = 10m

[listener:relay]
listen = 127.0.0.1:$p_w_iocpd_relay
handler = forward
upstream = 127.0.0.1:$p_echo
buffer_size = 64k
EOF
    "$wrapper" "$cache/win/iocpd.exe" run -c "Z:${dir//\//\\}\\iocpd.ini" >"$dir/iocpd.log" 2>&1 &
    w_pid[iocpd.exe]=$!
    "$wrapper" "$bin/asio_echo.exe" echo "$p_w_asio_echo" >"$dir/asio-echo.log" 2>&1 &
    w_pid[asio-echo]=$!
    "$wrapper" "$bin/asio_echo.exe" relay "$p_w_asio_relay" "$p_echo" >"$dir/asio-relay.log" 2>&1 &
    w_pid[asio-relay]=$!
    started+=("${w_pid[iocpd.exe]}" "${w_pid[asio-echo]}" "${w_pid[asio-relay]}")
    if ! wait_port "$p_w_iocpd_echo" "${w_pid[iocpd.exe]}" 60 ||
        ! wait_port "$p_w_iocpd_relay" "${w_pid[iocpd.exe]}" 10 ||
        ! wait_port "$p_w_asio_echo" "${w_pid[asio-echo]}" 60 ||
        ! wait_port "$p_w_asio_relay" "${w_pid[asio-relay]}" 60; then
        wine_note="skipped: iocpd.exe or asio_echo.exe did not start under Wine"
        log "$wine_note"
        tail -n 5 "$dir"/*.log >&2
        return
    fi
    for scen in W-echo W-relay; do
        log "$scen: $wine_conns connections x 64 B under Wine ($rounds rounds)"
        for r in $(seq 1 "$rounds"); do
            for name in iocpd.exe asio; do
                case $scen/$name in
                W-echo/iocpd.exe) port=$p_w_iocpd_echo ;;
                W-relay/iocpd.exe) port=$p_w_iocpd_relay ;;
                W-echo/asio) port=$p_w_asio_echo ;;
                W-relay/asio) port=$p_w_asio_relay ;;
                esac
                j=$(loadgen echo -p "$port" -c "$wine_conns" -s 64 -d "$t_wine" -w 0.5 \
                    -l "$scen $name")
                if [ "$(printf '%s' "$j" | json .ok)" != true ]; then
                    log "$scen round $r $name: the run failed"
                    continue
                fi
                record "$scen" "$name" "$r" rate "$(printf '%s' "$j" | json .msgs_per_s)"
                record "$scen" "$name" "$r" p50 "$(printf '%s' "$j" | json .p50_us)"
                record "$scen" "$name" "$r" p99 "$(printf '%s' "$j" | json .p99_us)"
            done
        done
    done
    for name in iocpd.exe asio-echo asio-relay; do
        stop_pid "${w_pid[$name]}"
    done
    eval "$(bash "$root/tests/wine/prefix.sh" stop 2>/dev/null)"
    wine_started=0
}

# ----------------------------------------------------------------------------
# The run

declare -A e_pid e_port w_pid
t_start=$(date +%s)
log "work directory $work; fd limit $fdlimit; load average $loadavg_start"

"$bin/epoll_echo" -p "$p_echo" >"$work/epoll_echo-upstream.log" 2>&1 &
upstream_pid=$!
started+=("$upstream_pid")
wait_port "$p_echo" "$upstream_pid" 10 || {
    echo "run.sh: the upstream echo server did not start" >&2
    exit 1
}

run_r1
log "R2: 50 connections x 64 B through each relay to an echo server ($rounds rounds)"
run_r2_r3 R2
log "R3: connection rate through each relay (16 parallel, 1 KiB echoed; $rounds rounds)"
run_r2_r3 R3
log "R4: idle relayed connections, resident memory ($rounds rounds)"
run_r4
run_echo_servers
run_e4
stop_pid "$upstream_pid"
if [ "$wine" = 1 ]; then
    "$bin/epoll_echo" -p "$p_echo" >>"$work/epoll_echo-upstream.log" 2>&1 &
    upstream_pid=$!
    started+=("$upstream_pid")
    wait_port "$p_echo" "$upstream_pid" 10
    run_wine
    stop_pid "$upstream_pid"
else
    wine_note=${wine_note:-skipped (--no-wine)}
fi
elapsed=$(($(date +%s) - t_start))
loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ----------------------------------------------------------------------------
# Report

# Medians per scenario, contender and key: "S C K MEDIAN N".
awk -F'\t' '{ v[$1 "\t" $2 "\t" $4] = v[$1 "\t" $2 "\t" $4] " " $5 }
END {
    for (k in v) {
        n = split(substr(v[k], 2), a, " ")
        for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > x + 0; j--) a[j + 1] = a[j]; a[j + 1] = x }
        m = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        print k "\t" m "\t" n
    }
}' "$results" >"$work/medians.tsv"

# med SCENARIO CONTENDER KEY: the median, or nothing.
med() { awk -F'\t' -v s="$1" -v c="$2" -v k="$3" '$1 == s && $2 == c && $3 == k { print $4 }' "$work/medians.tsv"; }
nrounds() { awk -F'\t' -v s="$1" -v c="$2" -v k="$3" '$1 == s && $2 == c && $3 == k { print $5 }' "$work/medians.tsv"; }
# fmt VALUE DECIMALS: the number, or "n/a".
fmt() { if [ -z "$1" ]; then echo "n/a"; else awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }'; fi; }
# ratio A B: A / B with two decimals and an x, or "n/a".
ratio() { if [ -z "$1" ] || [ -z "$2" ] || [ "$(awk -v b="$2" 'BEGIN { print (b == 0) }')" = 1 ]; then echo "n/a"; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; fi; }
# target TEXT VALUE OP LIMIT DETAIL: prints a MET / NOT MET line.
target() {
    local text=$1 value=$2 op=$3 limit=$4 detail=$5 verdict
    if [ -z "$value" ] || [ -z "$limit" ]; then
        verdict="NOT MEASURED"
    elif awk -v v="$value" -v l="$limit" -v op="$op" \
        'BEGIN { exit !((op == ">=" && v >= l) || (op == "<=" && v <= l)) }'; then
        verdict=MET
    else
        verdict="NOT MET"
    fi
    printf -- '- **%s**: %s (%s)\n' "$verdict" "$text" "$detail"
}
mul() { [ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a * b }'; }
rounds_of() {
    local n
    n=$(nrounds "$@")
    echo "${n:-0}"
}

report() {
    local name best best_name v ref
    echo "## Results"
    echo
    echo "Medians of $rounds round(s); contenders interleaved in every round. Each server"
    echo "gets $workers worker thread(s)/process(es) (iocpd \`workers\`, HAProxy \`nbthread\`,"
    echo "nginx \`worker_processes\`; rinetd and node are single-threaded, socat forks per"
    echo "connection). The load generator is one thread; on $(nproc) cores the generator,"
    echo "the relay and the upstream share the CPUs, so every figure is relative."
    echo
    echo "### R1: bulk throughput through the relay (iperf3, 1 stream, ${t_bulk} s)"
    echo
    echo "| contender | Gbit/s | vs HAProxy | vs direct | relay CPU s per GB | rounds |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    ref=$(med R1 haproxy gbit)
    for name in "${relays[@]}"; do
        v=$(med R1 "$name" gbit)
        [ -n "$v" ] || continue
        echo "| $name | $(fmt "$v" 2) | $(ratio "$v" "$ref") | $(ratio "$v" "$(med R1 direct gbit)") | $(fmt "$(med R1 "$name" cpu_per_gb)" 3) | $(rounds_of R1 "$name" gbit) |"
    done
    echo
    echo "### R2: 50 connections x 64 B messages through the relay to an echo server"
    echo
    best=
    best_name=
    for name in haproxy nginx rinetd socat; do
        v=$(med R2 "$name" rate)
        [ -n "$v" ] || continue
        if [ -z "$best" ] || awk -v a="$v" -v b="$best" 'BEGIN { exit !(a > b) }'; then
            best=$v
            best_name=$name
        fi
    done
    echo "| contender | msgs/s | p50 us | p99 us | vs best peer ($best_name) | relay CPU us/msg | rounds |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for name in "${relays[@]}"; do
        v=$(med R2 "$name" rate)
        [ -n "$v" ] || continue
        echo "| $name | $(fmt "$v" 0) | $(fmt "$(med R2 "$name" p50)" 0) | $(fmt "$(med R2 "$name" p99)" 0) | $(ratio "$v" "$best") | $(fmt "$(med R2 "$name" cpu_us)" 2) | $(rounds_of R2 "$name" rate) |"
    done
    r2_best=$best
    r2_best_name=$best_name
    echo
    echo "### R3: connection rate through the relay (16 in parallel; connect, 1 KiB each way, close)"
    echo
    echo "| contender | conns/s | p99 us | vs HAProxy | relay CPU us/conn | errors | rounds |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    ref=$(med R3 haproxy rate)
    for name in "${relays[@]}"; do
        v=$(med R3 "$name" rate)
        [ -n "$v" ] || continue
        echo "| $name | $(fmt "$v" 0) | $(fmt "$(med R3 "$name" p99)" 0) | $(ratio "$v" "$ref") | $(fmt "$(med R3 "$name" cpu_us)" 1) | $(fmt "$(med R3 "$name" errors)" 0) | $(rounds_of R3 "$name" rate) |"
    done
    echo
    echo "### R4: resident memory per idle relayed connection"
    echo
    echo "| contender | idle connections | RSS growth MiB | KiB per connection (RSS) | KiB per connection (PSS) | rounds |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    for name in "${relays[@]}"; do
        v=$(med R4 "$name" kib_per_conn)
        [ -n "$v" ] || continue
        echo "| $name | $(fmt "$(med R4 "$name" conns)" 0) | $(fmt "$(med R4 "$name" rss_mib)" 1) | $(fmt "$v" 2) | $(fmt "$(med R4 "$name" pss_kib_per_conn)" 2) | $(rounds_of R4 "$name" kib_per_conn) |"
    done
    echo
    if [ "$(idle_count iocpd)" -lt "$idle_big" ]; then
        echo "Asked: $idle_big idle connections per relay. Got: $(idle_count iocpd) for iocpd, HAProxy and nginx"
        echo "(a relay needs two descriptors per relayed connection and the descriptor"
        echo "limit here is $fdlimit: \`ulimit -n\` could not be raised further);"
    else
        echo "Asked: $idle_big idle connections per relay. Got: $(idle_count iocpd) for iocpd, HAProxy and nginx;"
    fi
    echo "$(idle_count socat) for socat, which forks a process of a few MiB per connection; and"
    echo "$(idle_count rinetd) for rinetd, whose accepting slows down as connections pile up (about"
    echo "8,000 in 60 s here)."
    echo "Kernel socket memory is not in RSS. PSS divides shared pages (e.g. shared"
    echo "libraries across socat's processes) among the processes sharing them."
    echo
    echo "### E1-E3: echo servers, 64 B messages, one in flight per connection"
    echo
    echo "| server | E1 (1 conn) msgs/s | p99 us | E2 (50) msgs/s | p99 us | E3 (1000) msgs/s | p99 us | CPU us/msg (E2) |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for name in iocpd epoll_echo node; do
        echo "| $name | $(fmt "$(med E1 "$name" rate)" 0) | $(fmt "$(med E1 "$name" p99)" 0) | $(fmt "$(med E2 "$name" rate)" 0) | $(fmt "$(med E2 "$name" p99)" 0) | $(fmt "$(med E3 "$name" rate)" 0) | $(fmt "$(med E3 "$name" p99)" 0) | $(fmt "$(med E2 "$name" cpu_us)" 2) |"
    done
    for ref in epoll_echo node; do
        echo "| iocpd vs $ref | $(ratio "$(med E1 iocpd rate)" "$(med E1 "$ref" rate)") | | $(ratio "$(med E2 iocpd rate)" "$(med E2 "$ref" rate)") | | $(ratio "$(med E3 iocpd rate)" "$(med E3 "$ref" rate)") | | |"
    done
    echo
    echo "### E4: $e4_conns bulk echo streams at once, at most $((e4_window >> 10)) KiB unechoed each (${t_e4} s)"
    echo
    echo "Each connection sends continuously and verifies its echo; Gbit/s is the echoed"
    echo "payload (one direction). Per-connection figures are Mbit/s; min and max are also"
    echo "shown as a share of the median connection. iocpd runs with \`workers = $workers\` and,"
    echo "as iocpd-auto, with the default \`workers = 0\` (one per CPU: $(nproc) here)."
    echo
    echo "| server | Gbit/s | vs epoll_echo | conn min | median | max | min/median | max/median | Jain's index | CPU s per GB | rounds |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    ref=$(med E4 epoll_echo gbit)
    for name in iocpd iocpd-auto epoll_echo node; do
        v=$(med E4 "$name" gbit)
        [ -n "$v" ] || continue
        echo "| $name | $(fmt "$v" 2) | $(ratio "$v" "$ref") | $(fmt "$(med E4 "$name" conn_min)" 1) | $(fmt "$(med E4 "$name" conn_med)" 1) | $(fmt "$(med E4 "$name" conn_max)" 1) | $(fmt "$(med E4 "$name" min_ratio)" 2) | $(fmt "$(med E4 "$name" max_ratio)" 2) | $(fmt "$(med E4 "$name" jain)" 3) | $(fmt "$(med E4 "$name" cpu_per_gb)" 3) | $(rounds_of E4 "$name" gbit) |"
    done
    echo
    echo "### Under Wine: iocpd.exe and an asio (IOCP) peer, $wine_conns connections x 64 B"
    echo
    if [ -n "$(med W-echo asio rate)$(med W-echo iocpd.exe rate)" ]; then
        echo "Wine figures compare only with each other (Wine's sockets go through the"
        echo "wineserver); never with the native ones above. The relays' upstream is the"
        echo "native epoll_echo."
        echo
        echo "| server | echo msgs/s | p99 us | relay msgs/s | p99 us |"
        echo "| --- | ---: | ---: | ---: | ---: |"
        for name in iocpd.exe asio; do
            echo "| $name | $(fmt "$(med W-echo "$name" rate)" 0) | $(fmt "$(med W-echo "$name" p99)" 0) | $(fmt "$(med W-relay "$name" rate)" 0) | $(fmt "$(med W-relay "$name" p99)" 0) |"
        done
        echo "| iocpd.exe vs asio | $(ratio "$(med W-echo iocpd.exe rate)" "$(med W-echo asio rate)") | | $(ratio "$(med W-relay iocpd.exe rate)" "$(med W-relay asio rate)") | |"
    else
        echo "Not run: ${wine_note:-no results}."
    fi
    echo
    echo "## Targets"
    echo
    local i_r1 h_r1 hs_r1 i_cpu h_cpu
    i_r1=$(med R1 iocpd gbit)
    h_r1=$(med R1 haproxy gbit)
    hs_r1=$(med R1 haproxy-splice gbit)
    i_cpu=$(med R1 iocpd cpu_per_gb)
    h_cpu=$(med R1 haproxy cpu_per_gb)
    target "R1 throughput >= 1.0x HAProxy without splice" "$i_r1" ">=" "$h_r1" \
        "iocpd $(fmt "$i_r1" 2) Gbit/s, HAProxy $(fmt "$h_r1" 2) Gbit/s: $(ratio "$i_r1" "$h_r1")"
    target "R1 CPU seconds per GB <= HAProxy's" "$i_cpu" "<=" "$h_cpu" \
        "iocpd $(fmt "$i_cpu" 3), HAProxy $(fmt "$h_cpu" 3) CPU s/GB"
    target "R1 stretch: throughput >= 1.0x HAProxy with splice" "$i_r1" ">=" "$hs_r1" \
        "iocpd $(fmt "$i_r1" 2) Gbit/s, HAProxy+splice $(fmt "$hs_r1" 2) Gbit/s: $(ratio "$i_r1" "$hs_r1")"
    local i_r2
    i_r2=$(med R2 iocpd rate)
    target "R2 msgs/s >= 1.1x the best peer" "$i_r2" ">=" "$(mul "$r2_best" 1.1)" \
        "iocpd $(fmt "$i_r2" 0), best peer $r2_best_name $(fmt "$r2_best" 0) msgs/s: $(ratio "$i_r2" "$r2_best")"
    local i_r3 h_r3
    i_r3=$(med R3 iocpd rate)
    h_r3=$(med R3 haproxy rate)
    target "R3 connections/s >= 1.2x HAProxy" "$i_r3" ">=" "$(mul "$h_r3" 1.2)" \
        "iocpd $(fmt "$i_r3" 0), HAProxy $(fmt "$h_r3" 0) conns/s: $(ratio "$i_r3" "$h_r3")"
    local i_r4
    i_r4=$(med R4 iocpd kib_per_conn)
    target "R4 <= 4 KiB resident memory per idle relayed connection" "$i_r4" "<=" 4 \
        "iocpd $(fmt "$i_r4" 2) KiB per connection over $(fmt "$(med R4 iocpd conns)" 0) connections"
    local scen e_i e_e e_n
    for scen in E2 E3; do
        e_i=$(med $scen iocpd rate)
        e_e=$(med $scen epoll_echo rate)
        e_n=$(med $scen node rate)
        target "$scen msgs/s >= 0.9x the minimal epoll echo server" "$e_i" ">=" "$(mul "$e_e" 0.9)" \
            "iocpd $(fmt "$e_i" 0), epoll_echo $(fmt "$e_e" 0) msgs/s: $(ratio "$e_i" "$e_e")"
        target "$scen msgs/s >= 1.3x node" "$e_i" ">=" "$(mul "$e_n" 1.3)" \
            "iocpd $(fmt "$e_i" 0), node $(fmt "$e_n" 0) msgs/s: $(ratio "$e_i" "$e_n")"
    done
    local e4_e name what jain minr fair
    e4_e=$(med E4 epoll_echo gbit)
    for name in iocpd iocpd-auto; do
        if [ "$name" = iocpd ]; then what="iocpd, workers = $workers"; else what="iocpd, workers = 0"; fi
        jain=$(med E4 "$name" jain)
        minr=$(med E4 "$name" min_ratio)
        fair=
        [ -n "$jain" ] && [ -n "$minr" ] &&
            fair=$(awk -v j="$jain" -v m="$minr" 'BEGIN { print (j >= 0.9 && m >= 0.25) ? 1 : 0 }')
        target "E4 fairness ($what): Jain's index >= 0.9 and every connection >= 25% of the median" \
            "$fair" ">=" 1 "Jain's index $(fmt "$jain" 3), slowest connection $(fmt "$minr" 2)x and fastest $(fmt "$(med E4 "$name" max_ratio)" 2)x the median"
        target "E4 aggregate ($what) >= 1.0x epoll_echo" "$(med E4 "$name" gbit)" ">=" "$e4_e" \
            "$name $(fmt "$(med E4 "$name" gbit)" 2), epoll_echo $(fmt "$e4_e" 2) Gbit/s: $(ratio "$(med E4 "$name" gbit)" "$e4_e")"
    done
    local w_i w_a
    for scen in W-echo W-relay; do
        w_i=$(med $scen iocpd.exe rate)
        w_a=$(med $scen asio rate)
        target "Wine ${scen#W-}: iocpd.exe >= 1.0x the asio peer" "$w_i" ">=" "$w_a" \
            "iocpd.exe $(fmt "$w_i" 0), asio $(fmt "$w_a" 0) msgs/s: $(ratio "$w_i" "$w_a")"
    done
}

versions() {
    echo "- iocpd $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(
        [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ] && echo ' (with uncommitted changes)'
    ), Release build"
    echo "- $(haproxy -v 2>/dev/null | head -n 1 | cut -d' ' -f1-3)"
    echo "- $(nginx -v 2>&1 | head -n 1 | sed 's/^nginx version: //')"
    echo "- $(rinetd -v 2>/dev/null | head -n 1)"
    echo "- $(socat -V 2>/dev/null | grep -m1 'socat version' | cut -d' ' -f1-3)"
    echo "- $(iperf3 -v 2>/dev/null | head -n 1 | cut -d' ' -f1-2)"
    echo "- node $(node --version 2>/dev/null)"
    [ "$wine" = 1 ] && echo "- $(wine --version 2>/dev/null), asio $(sed -n 's/^#define ASIO_VERSION \([0-9]*\).*/\1/p' /usr/include/asio/version.hpp)"
}

document() {
    echo "# iocpd benchmarks"
    echo
    echo "Generated by \`bench/run.sh\` (see [bench/README.md](bench/README.md) for what"
    echo "each scenario measures). Do not edit above the marker line at the end:"
    echo "the next run rewrites it."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)"
    echo "- command: \`$cmdline\` ($( [ "$quick" = 1 ] && echo quick || echo full) mode, ${elapsed} s)"
    echo "- load average at start $loadavg_start, at end $loadavg_end (other work on the"
    echo "  machine makes figures noisier; rounds are interleaved to spread it evenly)"
    echo "- versions:"
    versions | sed 's/^/  /'
    echo
    report
}

out=$(document)
printf '%s\n' "$out"
marker='<!-- Everything below this line is kept by bench/run.sh. -->'
if [ "$write" = 1 ]; then
    md=$root/BENCHMARKS.md
    tail=
    if [ -e "$md" ] && grep -qF "$marker" "$md"; then
        tail=$(awk -v m="$marker" 'found { print } $0 == m { found = 1 }' "$md")
    fi
    {
        printf '%s\n\n%s\n' "$out" "$marker"
        [ -n "$tail" ] && printf '%s\n' "$tail"
    } >"$md"
    log "wrote $md"
else
    printf '%s\n' "$out" >"$work/report.md"
    keep=1
    log "report also in $work/report.md"
fi
log "done in ${elapsed} s"
