# shellcheck shell=bash source-path=SCRIPTDIR
# bench/lib/scenarios_echo.sh: the echo server scenarios, loadgen against
# iocpd (handler = echo), epoll_echo and node, each server started once for
# all the rounds of its scenarios:
#   E1-E3  64 B messages, one in flight per connection, 1 / 50 / 1000
#          connections (one group: e123_run, e123_report, e123_targets)
#   E4     300 bulk transfers echoed at once: throughput and fairness
#          between the connections (e4_run, e4_report, e4_targets)

[ -z "${bench_lib_scenarios_echo:-}" ] || return 0
bench_lib_scenarios_echo=1
# shellcheck source=contenders.sh
. "${BASH_SOURCE[0]%/*}/contenders.sh"
# shellcheck source=report.sh
. "${BASH_SOURCE[0]%/*}/report.sh"

# ----------------------------------------------------------------------------
# E1-E3: echo servers, 1 / 50 / 1000 connections x 64 B

e123_run() {
    local r scen conns name j before after cpu dir=$work/e1-e3
    local names=(iocpd epoll_echo node)
    local -A pid port=([iocpd]=$p_e_iocpd [epoll_echo]=$p_e_epoll [node]=$p_e_node)
    mkdir -p "$dir"
    for name in "${names[@]}"; do
        start_echo_server "$name" "${port[$name]}" "$dir"
        pid[$name]=$server_pid
    done
    for name in "${names[@]}"; do
        wait_port "${port[$name]}" "${pid[$name]}" 10 || log "echo server $name did not start"
    done
    for scen in E1 E2 E3; do
        case $scen in E1) conns=1 ;; E2) conns=50 ;; E3) conns=1000 ;; esac
        log "$scen: $conns connections x 64 B against each echo server ($rounds rounds)"
        for r in $(seq 1 "$rounds"); do
            for name in "${names[@]}"; do
                before=$(proc_stats "${pid[$name]}")
                j=$(loadgen echo -p "${port[$name]}" -c "$conns" -s 64 -d "$t_msg" -w "$warm" \
                    -l "$scen $name")
                after=$(proc_stats "${pid[$name]}")
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
    for name in "${names[@]}"; do
        stop_pid "${pid[$name]}"
    done
}

e123_report() {
    local name ref
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
}

# The targets are on E2 and E3; E1 (one connection) has none.
e123_targets() {
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
}

# ----------------------------------------------------------------------------
# E4: 300 concurrent bulk echo streams, fairness between them

# The E4 servers, in the order they run and are listed: iocpd twice, with
# BENCH_WORKERS workers and with its default (iocpd-auto).
e4_names=(iocpd iocpd-auto epoll_echo node)

e4_run() {
    local dir=$work/e4 r name j before after cpu bytes kv v
    local -A pid port=([iocpd]=$p_e4_iocpd [iocpd-auto]=$p_e4_iocpd_auto [epoll_echo]=$p_e4_epoll
        [node]=$p_e4_node)
    mkdir -p "$dir"
    for name in "${e4_names[@]}"; do
        start_echo_server "$name" "${port[$name]}" "$dir"
        pid[$name]=$server_pid
    done
    for name in "${e4_names[@]}"; do
        wait_port "${port[$name]}" "${pid[$name]}" 10 || log "E4 server $name did not start"
    done
    log "E4: $e4_conns bulk echo streams, at most $e4_window B unechoed each, ${t_e4} s ($rounds rounds)"
    for r in $(seq 1 "$rounds"); do
        for name in "${e4_names[@]}"; do
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
    for name in "${e4_names[@]}"; do
        stop_pid "${pid[$name]}"
    done
}

e4_report() {
    local name v ref
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
    for name in "${e4_names[@]}"; do
        v=$(med E4 "$name" gbit)
        [ -n "$v" ] || continue
        echo "| $name | $(fmt "$v" 2) | $(ratio "$v" "$ref") | $(fmt "$(med E4 "$name" conn_min)" 1) | $(fmt "$(med E4 "$name" conn_med)" 1) | $(fmt "$(med E4 "$name" conn_max)" 1) | $(fmt "$(med E4 "$name" min_ratio)" 2) | $(fmt "$(med E4 "$name" max_ratio)" 2) | $(fmt "$(med E4 "$name" jain)" 3) | $(fmt "$(med E4 "$name" cpu_per_gb)" 3) | $(rounds_of E4 "$name" gbit) |"
    done
    echo
}

e4_targets() {
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
}
