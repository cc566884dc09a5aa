# shellcheck shell=bash source-path=SCRIPTDIR
# bench/lib/scenarios_relay.sh: the relay scenarios, each relay started
# fresh for each run between a client and an upstream:
#   R1  bulk throughput (iperf3 -> relay -> iperf3 -s)
#   R2  small messages (loadgen echo -> relay -> epoll_echo)
#   R3  connection rate (loadgen connrate -> relay -> epoll_echo)
#   R4  resident memory per idle relayed connection (loadgen idle)
# Each has the three functions run.sh's table calls: rN_run (measure and
# record), rN_report (its section of the report) and rN_targets (its
# MET / NOT MET lines). R2-R4 need the epoll_echo upstream on p_echo.

[ -z "${bench_lib_scenarios_relay:-}" ] || return 0
bench_lib_scenarios_relay=1
# shellcheck source=contenders.sh
. "${BASH_SOURCE[0]%/*}/contenders.sh"
# shellcheck source=report.sh
. "${BASH_SOURCE[0]%/*}/report.sh"

# ----------------------------------------------------------------------------
# R1: bulk throughput, iperf3 client -> relay -> iperf3 server

r1_run() {
    local r name lp j before after cpu bytes bps
    log "R1: bulk throughput through each relay (iperf3, ${t_bulk} s per run, $rounds rounds)"
    start_iperf_server || {
        log "iperf3 server did not start"
        return
    }
    for r in $(seq 1 "$rounds"); do
        for name in "${relays[@]}"; do
            can_run "$name" || continue
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
                start_iperf_server
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

r1_report() {
    local name v ref
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
}

r1_targets() {
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
}

# ----------------------------------------------------------------------------
# R2 / R3: messages and connection rate through the relays, to epoll_echo

# relay_load R2|R3 PORT LABEL: runs R2's load (50 connections x 64 B
# echoed) or R3's (16 in parallel: connect, 1 KiB each way, close) against
# PORT; prints loadgen's JSON. R6 runs the same loads.
relay_load() {
    if [ "$1" = R2 ]; then
        loadgen echo -p "$2" -c 50 -s 64 -d "$t_msg" -w "$warm" -l "$3"
    else
        loadgen connrate -p "$2" -c 16 -s 1024 -d "$t_msg" -l "$3"
    fi
}

# relay_msgs_run R2|R3: one scenario's rounds; they differ only in the
# loadgen mode, the ports and what is recorded.
relay_msgs_run() {
    local scen=$1 r name lp j before after cpu
    for r in $(seq 1 "$rounds"); do
        for name in "${relays[@]}"; do
            [ "$name" = haproxy-splice ] && continue # splice moves nothing for small messages
            can_run "$name" || continue
            if [ "$scen" = R2 ]; then
                lp=$((base + 120 + $(relay_index "$name")))
            else
                lp=$((base + 130 + $(relay_index "$name")))
            fi
            start_relay "$name" "$lp" "$p_echo" || continue
            before=$(proc_stats "$relay_pid")
            j=$(relay_load "$scen" "$relay_port" "$scen $name")
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

r2_run() {
    log "R2: 50 connections x 64 B through each relay to an echo server ($rounds rounds)"
    relay_msgs_run R2
}

# Sets r2_best and r2_best_name: the fastest of the other relays in R2,
# which its target compares iocpd with.
r2_best_peer() {
    local name v
    r2_best=
    r2_best_name=
    for name in haproxy nginx rinetd socat; do
        v=$(med R2 "$name" rate)
        [ -n "$v" ] || continue
        if [ -z "$r2_best" ] || awk -v a="$v" -v b="$r2_best" 'BEGIN { exit !(a > b) }'; then
            r2_best=$v
            r2_best_name=$name
        fi
    done
}

r2_report() {
    local name v
    echo "### R2: 50 connections x 64 B messages through the relay to an echo server"
    echo
    r2_best_peer
    echo "| contender | msgs/s | p50 us | p99 us | vs best peer ($r2_best_name) | relay CPU us/msg | rounds |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for name in "${relays[@]}"; do
        v=$(med R2 "$name" rate)
        [ -n "$v" ] || continue
        echo "| $name | $(fmt "$v" 0) | $(fmt "$(med R2 "$name" p50)" 0) | $(fmt "$(med R2 "$name" p99)" 0) | $(ratio "$v" "$r2_best") | $(fmt "$(med R2 "$name" cpu_us)" 2) | $(rounds_of R2 "$name" rate) |"
    done
    echo
}

r2_targets() {
    local i_r2
    r2_best_peer
    i_r2=$(med R2 iocpd rate)
    target "R2 msgs/s >= 1.1x the best peer" "$i_r2" ">=" "$(mul "$r2_best" 1.1)" \
        "iocpd $(fmt "$i_r2" 0), best peer $r2_best_name $(fmt "$r2_best" 0) msgs/s: $(ratio "$i_r2" "$r2_best")"
}

r3_run() {
    log "R3: connection rate through each relay (16 parallel, 1 KiB echoed; $rounds rounds)"
    relay_msgs_run R3
}

r3_report() {
    local name v ref
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
}

r3_targets() {
    local i_r3 h_r3
    i_r3=$(med R3 iocpd rate)
    h_r3=$(med R3 haproxy rate)
    target "R3 connections/s >= 1.2x HAProxy" "$i_r3" ">=" "$(mul "$h_r3" 1.2)" \
        "iocpd $(fmt "$i_r3" 0), HAProxy $(fmt "$h_r3" 0) conns/s: $(ratio "$i_r3" "$h_r3")"
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

r4_run() {
    local r name lp n j s0 s1 est rss0 pss0 rss1 pss1
    log "R4: idle relayed connections, resident memory ($rounds rounds)"
    for r in $(seq 1 "$rounds"); do
        for name in "${relays[@]}"; do
            case $name in direct | haproxy-splice) continue ;; esac
            can_run "$name" || continue
            lp=$((base + 140 + $(relay_index "$name")))
            n=$(idle_count "$name")
            # A fresh relay each round: memory once grown is rarely returned.
            start_relay "$name" "$lp" "$p_echo" || continue
            if ! hold_idle idle "R4 $name" "$n"; then
                log "R4 round $r $name: no idle connections held"
                continue
            fi
            # proc_stats: CPU RSS PSS N
            read -r _ rss0 pss0 _ <<<"$s0"
            read -r _ rss1 pss1 _ <<<"$s1"
            record R4 "$name" "$r" conns "$est"
            record R4 "$name" "$r" asked "$n"
            record R4 "$name" "$r" rss_mib "$(awk -v a="$rss1" -v b="$rss0" 'BEGIN { printf "%.2f", (a - b) / 1024 }')"
            record R4 "$name" "$r" kib_per_conn "$(awk -v a="$rss1" -v b="$rss0" -v n="$est" 'BEGIN { printf "%.2f", (a - b) / n }')"
            record R4 "$name" "$r" pss_kib_per_conn "$(awk -v a="$pss1" -v b="$pss0" -v n="$est" 'BEGIN { printf "%.2f", (a - b) / n }')"
            log "R4 round $r $name: $est connections, RSS $rss0 -> $rss1 KiB ($(awk -v a="$rss1" -v b="$rss0" -v n="$est" 'BEGIN { printf "%.2f", (a - b) / n }') KiB each)"
        done
    done
}

r4_report() {
    local name v
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
}

r4_targets() {
    local i_r4
    i_r4=$(med R4 iocpd kib_per_conn)
    target "R4 <= 4 KiB resident memory per idle relayed connection" "$i_r4" "<=" 4 \
        "iocpd $(fmt "$i_r4" 2) KiB per connection over $(fmt "$(med R4 iocpd conns)" 0) connections"
}
