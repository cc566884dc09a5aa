# shellcheck shell=bash source-path=SCRIPTDIR
# bench/lib/scenarios_wine.sh: the Wine scenarios, iocpd.exe (IOCP, workers
# = BENCH_WORKERS, default 1) against an asio (IOCP, one thread) peer, both
# under Wine in a private prefix, in the same run:
#   W-echo1     loadgen echo -c 1 -s 64        -> echo server (latency-bound)
#   W-echo      loadgen echo -c 20 -s 64       -> echo server
#   W-echo50    loadgen echo -c 50 -s 64       -> echo server
#   W-bulk      loadgen stream -c 20 -W 1 MiB  -> echo server (bulk echo)
#   W-relay     loadgen echo -c 20 -s 64       -> relay -> epoll_echo
#   W-relay50   loadgen echo -c 50 -s 64       -> relay -> epoll_echo
#   W-connrate  loadgen connrate -c 16 -s 1024 -> relay -> epoll_echo
#               (connect, 1 KiB each way, close)
# One group: wine_run, wine_report, wine_targets. A loopback round trip
# under Wine goes through the wineserver, so these figures are compared only
# with each other. wine_note says why the part did not run, if it did not.

[ -z "${bench_lib_scenarios_wine:-}" ] || return 0
bench_lib_scenarios_wine=1
# shellcheck source=contenders.sh
. "${BASH_SOURCE[0]%/*}/contenders.sh"
# shellcheck source=report.sh
. "${BASH_SOURCE[0]%/*}/report.sh"

# The scenarios, in the order they run and are reported: "ID SERVER MODE
# CONNECTIONS TARGET WHAT". SERVER is echo or relay; MODE the loadgen mode;
# TARGET the least iocpd.exe / asio ratio wanted (issue 17 for the 1.1x
# ones); WHAT the row's title in the report.
wine_scenarios=(
    "W-echo1 echo echo 1 1.1 echo, 1 connection x 64 B"
    "W-echo echo echo $wine_conns 1.0 echo, $wine_conns connections x 64 B"
    "W-echo50 echo echo 50 1.1 echo, 50 connections x 64 B"
    "W-bulk echo stream $wine_conns 1.1 bulk echo, $wine_conns connections"
    "W-relay relay echo $wine_conns 1.0 relay, $wine_conns connections x 64 B"
    "W-relay50 relay echo 50 1.1 relay, 50 connections x 64 B"
    "W-connrate relay connrate 16 1.1 relay connection rate, 16 at a time"
)

# wine_port SERVER CONTENDER: the port of that server under Wine.
wine_port() {
    case $1/$2 in
    echo/iocpd.exe) echo "$p_w_iocpd_echo" ;;
    relay/iocpd.exe) echo "$p_w_iocpd_relay" ;;
    echo/asio) echo "$p_w_asio_echo" ;;
    relay/asio) echo "$p_w_asio_relay" ;;
    esac
}

# wine_measure SCEN ROUND CONTENDER PORT MODE CONNECTIONS: one loadgen run,
# recorded as "rate" (msgs/s, Mbit/s or conns/s) and "p99" (us; not for
# stream).
wine_measure() {
    local scen=$1 r=$2 name=$3 port=$4 mode=$5 conns=$6 j
    case $mode in
    echo) j=$(loadgen echo -p "$port" -c "$conns" -s 64 -d "$t_wine" -w 0.5 -l "$scen $name") ;;
    stream) j=$(loadgen stream -p "$port" -c "$conns" -W 1048576 -d "$t_wine" -w 0.5 -l "$scen $name") ;;
    connrate) j=$(loadgen connrate -p "$port" -c "$conns" -s 1024 -d "$t_wine" -l "$scen $name") ;;
    esac
    if [ "$(printf '%s' "$j" | json .ok)" != true ]; then
        log "$scen round $r $name: the run failed"
        return
    fi
    case $mode in
    echo) record "$scen" "$name" "$r" rate "$(printf '%s' "$j" | json .msgs_per_s)" ;;
    stream) record "$scen" "$name" "$r" rate "$(printf '%s' "$j" | json '.gbit_per_s * 1000')" ;;
    connrate) record "$scen" "$name" "$r" rate "$(printf '%s' "$j" | json .conns_per_s)" ;;
    esac
    [ "$mode" = stream ] || record "$scen" "$name" "$r" p99 "$(printf '%s' "$j" | json .p99_us)"
}

wine_run() {
    local prefix_env dir=$work/wine r name row scen server mode conns
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
    for row in "${wine_scenarios[@]}"; do
        read -r scen server mode conns _ <<<"$row"
        log "$scen: loadgen $mode, $conns connections, $server under Wine ($rounds rounds)"
        for r in $(seq 1 "$rounds"); do
            for name in iocpd.exe asio; do
                wine_measure "$scen" "$r" "$name" "$(wine_port "$server" "$name")" "$mode" "$conns"
            done
        done
    done
    stop_wine_contenders
    eval "$(bash "$root/tests/wine/prefix.sh" stop 2>/dev/null)"
    wine_started=0
}

wine_report() {
    local row scen mode what unit
    echo "### Under Wine: iocpd.exe (workers = $workers) and an asio (IOCP) peer (one thread)"
    echo
    if [ -n "$(med W-echo asio rate)$(med W-echo iocpd.exe rate)" ]; then
        echo "Wine figures compare only with each other (Wine's sockets go through the"
        echo "wineserver); never with the native ones above. The relays' upstream is the"
        echo "native epoll_echo. Rates are messages/s (echo, relay), Mbit/s of echoed"
        echo "payload (bulk) or connections/s (connection rate)."
        [ -z "$wine_exe" ] || echo "iocpd.exe: \`$wine_exe\` (--wine-exe)."
        echo
        echo "| scenario | unit | iocpd.exe | asio | iocpd.exe vs asio | p99 us iocpd.exe | p99 us asio |"
        echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
        for row in "${wine_scenarios[@]}"; do
            read -r scen _ mode _ _ what <<<"$row"
            case $mode in
            echo) unit=msgs/s ;;
            stream) unit=Mbit/s ;;
            connrate) unit=conns/s ;;
            esac
            echo "| $scen: $what | $unit | $(fmt "$(med "$scen" iocpd.exe rate)" 0) | $(fmt "$(med "$scen" asio rate)" 0) | $(ratio "$(med "$scen" iocpd.exe rate)" "$(med "$scen" asio rate)") | $(fmt "$(med "$scen" iocpd.exe p99)" 0) | $(fmt "$(med "$scen" asio p99)" 0) |"
        done
    else
        echo "Not run: ${wine_note:-no results}."
    fi
    echo
}

wine_targets() {
    local row scen want what w_i w_a
    for row in "${wine_scenarios[@]}"; do
        read -r scen _ _ _ want what <<<"$row"
        w_i=$(med "$scen" iocpd.exe rate)
        w_a=$(med "$scen" asio rate)
        target "Wine $scen ($what): iocpd.exe >= ${want}x the asio peer" "$w_i" ">=" \
            "$(mul "$w_a" "$want")" \
            "iocpd.exe $(fmt "$w_i" 0), asio $(fmt "$w_a" 0): $(ratio "$w_i" "$w_a")"
    done
}
