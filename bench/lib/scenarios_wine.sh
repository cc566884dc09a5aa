# shellcheck shell=bash source-path=SCRIPTDIR
# bench/lib/scenarios_wine.sh: the Wine scenarios, iocpd.exe (IOCP) against
# an asio (IOCP) peer, both under Wine in a private prefix:
#   W-echo   loadgen echo -> iocpd.exe / asio_echo.exe echo
#   W-relay  loadgen echo -> iocpd.exe / asio_echo.exe relay -> epoll_echo
# One group: wine_run, wine_report, wine_targets. A loopback round trip
# under Wine goes through the wineserver, so these figures are compared only
# with each other. wine_note says why the part did not run, if it did not.

[ -z "${bench_lib_scenarios_wine:-}" ] || return 0
bench_lib_scenarios_wine=1
# shellcheck source=contenders.sh
. "${BASH_SOURCE[0]%/*}/contenders.sh"
# shellcheck source=report.sh
. "${BASH_SOURCE[0]%/*}/report.sh"

wine_run() {
    local prefix_env dir=$work/wine r name scen port j
    log "Wine: starting a private prefix"
    if ! prefix_env=$(env -u WINEPREFIX bash "$root/tests/wine/prefix.sh" start 2>"$work/wine-prefix.log"); then
        wine_note="skipped: the Wine prefix could not be set up"
        log "$wine_note"
        return
    fi
    eval "$prefix_env"
    wine_started=1
    mkdir -p "$dir"
    if ! start_wine_contenders "$dir"; then
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
    stop_wine_contenders
    eval "$(bash "$root/tests/wine/prefix.sh" stop 2>/dev/null)"
    wine_started=0
}

wine_report() {
    local name
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
}

wine_targets() {
    local scen w_i w_a
    for scen in W-echo W-relay; do
        w_i=$(med $scen iocpd.exe rate)
        w_a=$(med $scen asio rate)
        target "Wine ${scen#W-}: iocpd.exe >= 1.0x the asio peer" "$w_i" ">=" "$w_a" \
            "iocpd.exe $(fmt "$w_i" 0), asio $(fmt "$w_a" 0) msgs/s: $(ratio "$w_i" "$w_a")"
    done
}
