# shellcheck shell=bash source-path=SCRIPTDIR
# bench/lib/scenarios_udp.sh: the UDP relay scenarios, each relay started
# fresh for each run between loadgen's UDP sessions and the udp_echo
# upstream (recvmmsg/sendmmsg, so that it is never the slowest part):
#   U1  64 B ping-pong, 50 sessions, one datagram out on each
#       (loadgen udp-echo): round trips/s, p50/p99
#   U2  1,400 B datagrams streamed by 4 sessions, each with at most 16 out
#       (loadgen udp-stream): datagrams/s and MB/s echoed, loss
#   U3  resident memory per idle session (loadgen udp-idle: each session
#       sent one datagram and got its echo)
# Each has the three functions run.sh's table calls: uN_run, uN_report and
# uN_targets. The contenders are udp_relays (contenders.sh): direct (no
# relay), iocpd, nginx and socat.

[ -z "${bench_lib_scenarios_udp:-}" ] || return 0
bench_lib_scenarios_udp=1
# shellcheck source=contenders.sh
. "${BASH_SOURCE[0]%/*}/contenders.sh"
# shellcheck source=report.sh
. "${BASH_SOURCE[0]%/*}/report.sh"

# Each UDP scenario starts the upstream for its own runs, and stops it.
udp_upstream_up() {
    start_udp_upstream && return 0
    log "$1: the udp_echo upstream did not start"
    stop_udp_upstream
    return 1
}

# ----------------------------------------------------------------------------
# U1 / U2: ping-pong and streaming through each UDP relay

# udp_load U1|U2 PORT LABEL: runs the scenario's load against PORT; prints
# loadgen's JSON.
udp_load() {
    if [ "$1" = U1 ]; then
        loadgen udp-echo -p "$2" -c "$u1_sessions" -s 64 -d "$t_msg" -w "$warm" -t 20 -l "$3"
    else
        loadgen udp-stream -p "$2" -c "$u2_sessions" -s 1400 -W "$u2_window" -d "$t_msg" \
            -w "$warm" -t 20 -l "$3"
    fi
}

# udp_msgs_run U1|U2: one scenario's rounds, the relays interleaved.
udp_msgs_run() {
    local scen=$1 r name lp j before after cpu off=170
    [ "$scen" = U2 ] && off=180
    udp_upstream_up "$scen" || return
    for r in $(seq 1 "$rounds"); do
        for name in "${udp_relays[@]}"; do
            can_run "$name" || continue
            lp=$((base + off + $(udp_relay_index "$name")))
            start_udp_relay "$name" "$lp" "$p_udp_echo" || continue
            before=$(proc_stats "$relay_pid")
            j=$(udp_load "$scen" "$relay_port" "$scen $name")
            after=$(proc_stats "$relay_pid")
            stop_relay
            cpu=$(sub "${after%% *}" "${before%% *}")
            if [ "$(printf '%s' "$j" | json .ok)" != true ]; then
                log "$scen round $r $name: the run failed"
                continue
            fi
            record "$scen" "$name" "$r" p50 "$(printf '%s' "$j" | json .p50_us)"
            record "$scen" "$name" "$r" p99 "$(printf '%s' "$j" | json .p99_us)"
            record "$scen" "$name" "$r" loss_pct "$(printf '%s' "$j" | json .loss_pct)"
            record "$scen" "$name" "$r" lost "$(printf '%s' "$j" | json .lost)"
            record "$scen" "$name" "$r" misrouted "$(printf '%s' "$j" | json .misrouted)"
            if [ "$scen" = U1 ]; then
                record U1 "$name" "$r" rate "$(printf '%s' "$j" | json .msgs_per_s)"
                [ "$name" != direct ] && record U1 "$name" "$r" cpu_us \
                    "$(per_op "$cpu" "$(printf '%s' "$j" | json .msgs)")"
            else
                record U2 "$name" "$r" rate "$(printf '%s' "$j" | json .dgrams_per_s)"
                record U2 "$name" "$r" mb "$(printf '%s' "$j" | json .mb_per_s)"
                [ "$name" != direct ] && record U2 "$name" "$r" cpu_us \
                    "$(per_op "$cpu" "$(printf '%s' "$j" | json .datagrams)")"
            fi
        done
    done
    stop_udp_upstream
}

u1_run() {
    log "U1: $u1_sessions UDP sessions x 64 B ping-pong through each UDP relay ($rounds rounds)"
    udp_msgs_run U1
}

u2_run() {
    log "U2: $u2_sessions UDP sessions streaming 1,400 B datagrams (window $u2_window) through each UDP relay ($rounds rounds)"
    udp_msgs_run U2
}

# The misrouted datagrams of a scenario's contender over all rounds
# (datagrams that reached the wrong client), or 0.
misrouted_total() {
    local t
    t=$(total "$1" "$2" misrouted)
    fmt "${t:-0}" 0
}

u1_report() {
    local name v
    echo "### U1: $u1_sessions UDP sessions x 64 B ping-pong through the relay to a UDP echo server"
    echo
    echo "| contender | round trips/s | p50 us | p99 us | vs nginx | vs socat | relay CPU us/round trip | lost % | misrouted | rounds |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for name in "${udp_relays[@]}"; do
        v=$(med U1 "$name" rate)
        [ -n "$v" ] || continue
        echo "| $name | $(fmt "$v" 0) | $(fmt "$(med U1 "$name" p50)" 0) | $(fmt "$(med U1 "$name" p99)" 0) | $(ratio "$v" "$(med U1 nginx rate)") | $(ratio "$v" "$(med U1 socat rate)") | $(fmt "$(med U1 "$name" cpu_us)" 2) | $(fmt "$(med U1 "$name" loss_pct)" 3) | $(misrouted_total U1 "$name") | $(rounds_of U1 "$name" rate) |"
    done
    echo
    echo "A datagram with no echo within 100 ms is lost, and the session sends the"
    echo "next; misrouted counts echoes that reached another session's client (all"
    echo "rounds)."
    echo
}

u1_targets() {
    local i n
    i=$(med U1 iocpd rate)
    n=$(med U1 nginx rate)
    target "U1 round trips/s >= 1.2x nginx" "$i" ">=" "$(mul "$n" 1.2)" \
        "iocpd $(fmt "$i" 0), nginx $(fmt "$n" 0) round trips/s: $(ratio "$i" "$n")"
}

u2_report() {
    local name v
    echo "### U2: $u2_sessions UDP sessions streaming 1,400 B datagrams (at most $u2_window out each) through the relay to a UDP echo server"
    echo
    echo "| contender | datagrams/s echoed | MB/s | loss % | p99 us | vs nginx | vs socat | relay CPU us/datagram | misrouted | rounds |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for name in "${udp_relays[@]}"; do
        v=$(med U2 "$name" rate)
        [ -n "$v" ] || continue
        echo "| $name | $(fmt "$v" 0) | $(fmt "$(med U2 "$name" mb)" 1) | $(fmt "$(med U2 "$name" loss_pct)" 3) | $(fmt "$(med U2 "$name" p99)" 0) | $(ratio "$v" "$(med U2 nginx rate)") | $(ratio "$v" "$(med U2 socat rate)") | $(fmt "$(med U2 "$name" cpu_us)" 2) | $(misrouted_total U2 "$name") | $(rounds_of U2 "$name" rate) |"
    done
    echo
    echo "Each datagram crosses the relay twice (to the upstream and back); MB/s is"
    echo "the payload echoed, one way. Loss: of the datagrams sent while measuring,"
    echo "those with no echo within 100 ms (a lost one frees its place in the window"
    echo "then). Relay CPU is per datagram echoed."
    echo
}

u2_targets() {
    local i n
    i=$(med U2 iocpd rate)
    n=$(med U2 nginx rate)
    target "U2 datagrams/s >= 1.2x nginx" "$i" ">=" "$(mul "$n" 1.2)" \
        "iocpd $(fmt "$i" 0), nginx $(fmt "$n" 0) datagrams/s: $(ratio "$i" "$n"); loss iocpd $(fmt "$(med U2 iocpd loss_pct)" 3)%, nginx $(fmt "$(med U2 nginx loss_pct)" 3)%"
}

# ----------------------------------------------------------------------------
# U3: resident memory per idle UDP session

# How many idle sessions each relay gets: as many as the descriptor limit
# allows (a relay holds one socket per session, and so does loadgen), but
# socat, which forks a process of a few MiB per session, gets 500.
udp_idle_count() {
    local n
    case $1 in
    socat) n=500 ;;
    *)
        n=$idle_big
        [ $((n + 300)) -gt "$fdlimit" ] && n=$((fdlimit - 300))
        ;;
    esac
    [ "$quick" = 1 ] && [ "$n" -gt "$idle_big" ] && n=$idle_big
    [ "$quick" = 1 ] && [ "$1" = socat ] && n=$((n / 4))
    echo "$n"
}

u3_run() {
    local r name lp n j s0 s1 est rss0 pss0 rss1 pss1
    log "U3: idle UDP sessions, resident memory ($rounds rounds)"
    udp_upstream_up U3 || return
    for r in $(seq 1 "$rounds"); do
        for name in "${udp_relays[@]}"; do
            [ "$name" = direct ] && continue
            can_run "$name" || continue
            lp=$((base + 190 + $(udp_relay_index "$name")))
            n=$(udp_idle_count "$name")
            # A fresh relay each round: memory once grown is rarely returned.
            start_udp_relay "$name" "$lp" "$p_udp_echo" || continue
            if ! hold_idle udp-idle "U3 $name" "$n"; then
                log "U3 round $r $name: no idle sessions held"
                continue
            fi
            # proc_stats: CPU RSS PSS N
            read -r _ rss0 pss0 _ <<<"$s0"
            read -r _ rss1 pss1 _ <<<"$s1"
            record U3 "$name" "$r" sessions "$est"
            record U3 "$name" "$r" rss_mib "$(awk -v a="$rss1" -v b="$rss0" 'BEGIN { printf "%.2f", (a - b) / 1024 }')"
            record U3 "$name" "$r" kib_per_session "$(awk -v a="$rss1" -v b="$rss0" -v n="$est" 'BEGIN { printf "%.3f", (a - b) / n }')"
            record U3 "$name" "$r" pss_kib_per_session "$(awk -v a="$pss1" -v b="$pss0" -v n="$est" 'BEGIN { printf "%.3f", (a - b) / n }')"
            record U3 "$name" "$r" misrouted "$(printf '%s' "$j" | json .misrouted)"
            log "U3 round $r $name: $est sessions, RSS $rss0 -> $rss1 KiB ($(awk -v a="$rss1" -v b="$rss0" -v n="$est" 'BEGIN { printf "%.3f", (a - b) / n }') KiB each)"
        done
    done
    stop_udp_upstream
}

u3_report() {
    local name v
    echo "### U3: resident memory per idle UDP session"
    echo
    echo "| contender | idle sessions | RSS growth MiB | KiB per session (RSS) | KiB per session (PSS) | rounds |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    for name in "${udp_relays[@]}"; do
        v=$(med U3 "$name" kib_per_session)
        [ -n "$v" ] || continue
        echo "| $name | $(fmt "$(med U3 "$name" sessions)" 0) | $(fmt "$(med U3 "$name" rss_mib)" 2) | $(fmt "$v" 3) | $(fmt "$(med U3 "$name" pss_kib_per_session)" 3) | $(rounds_of U3 "$name" kib_per_session) |"
    done
    echo
    echo "Each session sent one 64 B datagram and got its echo, then stayed idle;"
    echo "RSS of the relay (socat: all its processes) with the sessions open, less"
    echo "before the first, divided by the sessions. Asked: $idle_big sessions, got"
    echo "$(udp_idle_count iocpd) for iocpd and nginx and $(udp_idle_count socat) for socat (a process per"
    echo "session). Kernel socket memory is not in RSS."
    echo
}

u3_targets() {
    local i
    i=$(med U3 iocpd kib_per_session)
    target "U3 <= 1 KiB resident memory per idle UDP session" "$i" "<=" 1 \
        "iocpd $(fmt "$i" 3) KiB per session over $(fmt "$(med U3 iocpd sessions)" 0) sessions; nginx $(fmt "$(med U3 nginx kib_per_session)" 3) KiB"
}
