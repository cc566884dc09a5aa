# shellcheck shell=bash source-path=SCRIPTDIR
# bench/lib/common.sh: what every part of bench/run.sh shares: the log, the
# map of ports, the work directory, the processes started (and stopping them
# on exit), and measuring and recording a run (proctree, loadgen, the
# results table). Sourced after parse_options: the ports follow
# BENCH_PORT_BASE.

[ -z "${bench_lib_common:-}" ] || return 0
bench_lib_common=1
# shellcheck source=settings.sh
. "${BASH_SOURCE[0]%/*}/settings.sh"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The bench tools (loadgen, epoll_echo, udp_echo, proctree, asio_echo.exe),
# built by setup.sh.
bin=$cache/bin

# ----------------------------------------------------------------------------
# Ports: every port of every scenario is here, so that two scenarios never
# share one and check_ports can test them all before anything starts.

p_echo=$base              # epoll_echo: the upstream of R2-R4 relays
p_iperf=$((base + 1))     # iperf3 server: the upstream of R1 relays
p_echo_b=$((base + 2))    # a second epoll_echo: R5's relays alternate two upstream lists
p_echo_pp=$((base + 3))   # epoll_echo --proxy: R6's upstream behind send_proxy
p_udp_echo=$((base + 4))  # udp_echo (a UDP port): the upstream of U1-U3 relays
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
# Relays listen on BASE + 100 + 10 * scenario + contender index (R1 at
# +110, R2 at +120...): a fresh port per scenario, so no restart ever binds
# over another's TIME_WAIT. The UDP relays of U1, U2 and U3 take UDP ports
# +170, +180 and +190 onwards the same way.

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
# Whether a UDP socket is bound to 127.0.0.1:$1 or to any address on it.
listening_udp() { ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }

# Exits if any port above is taken: every port we use must be free before
# anything starts.
check_ports() {
    local p
    for p in $p_echo $p_iperf $p_echo_b $p_echo_pp $p_e_iocpd $p_e_epoll $p_e_node $p_e4_iocpd $p_e4_iocpd_auto \
        $p_e4_epoll $p_e4_node $p_w_iocpd_echo $p_w_iocpd_relay \
        $p_w_asio_echo $p_w_asio_relay $(seq $((base + 100)) $((base + 160))); do
        if listening "$p"; then
            echo "run.sh: port $p is in use; set BENCH_PORT_BASE to a free range" >&2
            exit 1
        fi
    done
    for p in $p_udp_echo $(seq $((base + 170)) $((base + 199))); do
        if listening_udp "$p"; then
            echo "run.sh: UDP port $p is in use; set BENCH_PORT_BASE to a free range" >&2
            exit 1
        fi
    done
}

# ----------------------------------------------------------------------------
# Work directory, processes, clean-up

started=()     # process ids started by this script
wine_started=0 # 1 while the private Wine prefix runs (scenarios_wine.sh)

# Creates the work directory (configs, logs, results.tsv, runs.jsonl), makes
# it the current directory, and stops everything started here on exit.
make_workdir() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/iocpd-bench.XXXXXX")
    results=$work/results.tsv
    : >"$results"
    cd "$work" || exit 1
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Kills pid and everything below it, by process id, and reaps it.
kill_tree() {
    local pid=$1 kids k i
    [ -n "$pid" ] || return 0
    mapfile -t kids < <(descendants "$pid")
    kill -TERM "$pid" "${kids[@]}" 2>/dev/null
    for i in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    for k in "$pid" "${kids[@]}"; do
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

# Takes pid off the list cleanup stops (it has ended by itself).
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

# Waits until something listens on port $1 (and process $2 still lives),
# at most $3 seconds (default 10); with a fourth argument udp, until a UDP
# socket is bound to it.
wait_port() {
    local port=$1 pid=$2 secs=${3:-10} check=listening i
    [ "${4:-}" = udp ] && check=listening_udp
    for i in $(seq 1 $((secs * 20))); do
        "$check" "$port" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# ----------------------------------------------------------------------------
# Measuring and recording

# "CPU_SECONDS RSS_KIB PSS_KIB PROCESSES" of a process tree ("0 0 0 0" if none).
proc_stats() {
    if [ -z "${1:-}" ]; then
        echo "0 0 0 0"
    else
        "$bin/proctree" "$1" 2>/dev/null || echo "0 0 0 0"
    fi
}

# record SCENARIO CONTENDER ROUND KEY VALUE: one line of results.tsv, which
# report.sh takes the medians of.
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
# per_op CPU_SECONDS COUNT: microseconds of CPU per operation.
per_op() { awk -v c="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f", c * 1e6 / n }'; }

# Runs loadgen, prints its JSON line; logs the human line. Returns loadgen's
# status. Every JSON line also goes to runs.jsonl (kept with --keep).
loadgen() {
    local out rc
    out=$("$bin/loadgen" "$@" 2>"$work/loadgen.err")
    rc=$?
    printf '%s\n' "$out" >>"$work/runs.jsonl"
    grep -v '^loadgen: idle:' "$work/loadgen.err" | sed 's/^/    /' >&2
    printf '%s\n' "$out"
    return $rc
}

# json FILTER: a field of the JSON on stdin, or nothing.
json() { jq -r "$1 // empty" 2>/dev/null; }
