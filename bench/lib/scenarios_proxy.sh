# shellcheck shell=bash source-path=SCRIPTDIR
# bench/lib/scenarios_proxy.sh: R6, what the PROXY header costs a relay:
# R2 (50 connections x 64 B) and R3 (connection rate, 1 KiB each way) run
# through iocpd twice in the same rounds, side by side: as in R2/R3, and
# with send_proxy = v2 to an epoll_echo that drops the header (--proxy,
# on p_echo_pp). One group: r6_run, r6_report, r6_targets.

[ -z "${bench_lib_scenarios_proxy:-}" ] || return 0
bench_lib_scenarios_proxy=1
# shellcheck source=contenders.sh
. "${BASH_SOURCE[0]%/*}/contenders.sh"
# shellcheck source=report.sh
. "${BASH_SOURCE[0]%/*}/report.sh"
# shellcheck source=scenarios_relay.sh
. "${BASH_SOURCE[0]%/*}/scenarios_relay.sh"

# The two iocpd configurations of R6, as they are named in its records.
r6_names=(iocpd iocpd+pp2)

r6_run() {
    local r name kind lp up j pp_pid
    log "R6: R2 and R3 through iocpd with and without send_proxy = v2 ($rounds rounds)"
    start_epoll_echo "$p_echo_pp" epoll_echo-proxy pp_pid --proxy || {
        log "R6: the PROXY-aware upstream did not start"
        return
    }
    for r in $(seq 1 "$rounds"); do
        for kind in R2 R3; do
            for name in "${r6_names[@]}"; do
                lp=$((base + 140))
                up=$p_echo
                iocpd_extra=
                if [ "$name" = iocpd+pp2 ]; then
                    lp=$((base + 141))
                    up=$p_echo_pp
                    iocpd_extra="send_proxy = v2"
                fi
                start_relay iocpd "$lp" "$up" || continue
                j=$(relay_load "$kind" "$relay_port" "R6/$kind $name")
                stop_relay
                iocpd_extra=
                if [ "$(printf '%s' "$j" | json .ok)" != true ]; then
                    log "R6 $kind round $r $name: the run failed"
                    continue
                fi
                if [ "$kind" = R2 ]; then
                    record R6 "$name" "$r" msgs "$(printf '%s' "$j" | json .msgs_per_s)"
                    record R6 "$name" "$r" msgs_p99 "$(printf '%s' "$j" | json .p99_us)"
                else
                    record R6 "$name" "$r" conns "$(printf '%s' "$j" | json .conns_per_s)"
                    record R6 "$name" "$r" conns_p99 "$(printf '%s' "$j" | json .p99_us)"
                    record R6 "$name" "$r" errors "$(printf '%s' "$j" | json .errors)"
                fi
            done
        done
    done
    stop_pid "$pp_pid"
}

r6_report() {
    local name ref_m ref_c
    echo "### R6: R2 and R3 through iocpd with send_proxy = v2 (same rounds, side by side)"
    echo
    echo "| iocpd | R2 msgs/s | R2 p99 us | vs without | R3 conns/s | R3 p99 us | vs without | R3 errors | rounds |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    ref_m=$(med R6 iocpd msgs)
    ref_c=$(med R6 iocpd conns)
    for name in "${r6_names[@]}"; do
        echo "| $name | $(fmt "$(med R6 "$name" msgs)" 0) | $(fmt "$(med R6 "$name" msgs_p99)" 0) | $(ratio "$(med R6 "$name" msgs)" "$ref_m") | $(fmt "$(med R6 "$name" conns)" 0) | $(fmt "$(med R6 "$name" conns_p99)" 0) | $(ratio "$(med R6 "$name" conns)" "$ref_c") | $(fmt "$(med R6 "$name" errors)" 0) | $(rounds_of R6 "$name" msgs) |"
    done
    echo
}

r6_targets() {
    local m0 m1 c0 c1
    m0=$(med R6 iocpd msgs)
    m1=$(med R6 iocpd+pp2 msgs)
    c0=$(med R6 iocpd conns)
    c1=$(med R6 iocpd+pp2 conns)
    target "R6 R2 with send_proxy = v2 within 3% of without" "$m1" ">=" "$(mul "$m0" 0.97)" \
        "$(fmt "$m1" 0) against $(fmt "$m0" 0) msgs/s: $(ratio "$m1" "$m0")"
    target "R6 R3 with send_proxy = v2 within 3% of without" "$c1" ">=" "$(mul "$c0" 0.97)" \
        "$(fmt "$c1" 0) against $(fmt "$c0" 0) conns/s: $(ratio "$c1" "$c0")"
}
