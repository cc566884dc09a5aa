# shellcheck shell=bash source-path=SCRIPTDIR
# bench/lib/scenarios_reload.sh: R5, a reload under load. loadgen churn
# (R3's connection churn, 16 in parallel, plus 50 long transfers) through
# iocpd, HAProxy (master-worker) and nginx, each relay started fresh for
# each run, while loadgen has it reload its config r5_reloads times:
# failed connections, broken long transfers, and p99 during the reloads
# against outside them. r5_run, r5_report and r5_targets, as run.sh's
# table calls them. Needs the epoll_echo upstream on p_echo; starts a
# second one on p_echo_b, so that each reload swaps the order of two
# upstreams (contenders.sh, start_reloadable).

[ -z "${bench_lib_scenarios_reload:-}" ] || return 0
bench_lib_scenarios_reload=1
# shellcheck source=contenders.sh
. "${BASH_SOURCE[0]%/*}/contenders.sh"
# shellcheck source=report.sh
. "${BASH_SOURCE[0]%/*}/report.sh"

# The relays R5 reloads, in the order of its table (and of `relays`).
r5_relays=(iocpd haproxy nginx)

# r5_x VALUE: a ratio as "1.23x", or "n/a".
r5_x() { if [ -z "$1" ]; then echo "n/a"; else echo "$(fmt "$1" 2)x"; fi; }

# Seconds per run: the last reload's window ends before the run does.
r5_seconds() { awk -v e="$r5_every" -v n="$r5_reloads" 'BEGIN { print e * (n + 1) }'; }

r5_run() {
    local r name lp j key secs iocpd_ok=0
    secs=$(r5_seconds)
    log "R5: reload under load: 16 parallel 1 KiB cycles + 50 long transfers, $r5_reloads reloads ${r5_every} s apart (${secs} s per run, $rounds rounds)"
    iocpd_reloads && iocpd_ok=1
    [ "$iocpd_ok" = 1 ] || log "R5: this iocpd build has no reload (not in iocpd --help): iocpd not measured"
    start_upstream_b || {
        log "R5: the second upstream did not start"
        return
    }
    for r in $(seq 1 "$rounds"); do
        for name in "${r5_relays[@]}"; do
            can_run "$name" || continue
            [ "$name" = iocpd ] && [ "$iocpd_ok" = 0 ] && continue
            lp=$((base + 150 + $(relay_index "$name")))
            start_reloadable "$name" "$lp" "$p_echo" "$p_echo_b" || continue
            j=$(loadgen churn -p "$relay_port" -c 16 -s 1024 --long 50 -d "$secs" \
                --reload-cmd "$reload_cmd" --reloads "$r5_reloads" --reload-every "$r5_every" \
                --reload-window "$r5_window" -l "R5 $name")
            stop_relay
            if [ -z "$(printf '%s' "$j" | json .cycles)" ]; then
                log "R5 round $r $name: the run failed"
                continue
            fi
            # A reload command that failed (the relay gone, a config it
            # refused) is recorded, not dropped: the report shows it.
            [ "$(printf '%s' "$j" | json .reloads_failed)" = 0 ] ||
                log "R5 round $r $name: $(printf '%s' "$j" | json .reloads_failed) reload(s) failed"
            for key in reloads_done reloads_failed cycles failed_during failed_outside long_broken \
                p99_during_us p99_outside_us p99_connect_during_us p99_connect_outside_us; do
                record R5 "$name" "$r" "$key" "$(printf '%s' "$j" | json ".$key")"
            done
            # The ratio of each run: during and outside share its conditions.
            record R5 "$name" "$r" p99_ratio "$(printf '%s' "$j" |
                jq -r 'if .p99_outside_us > 0 and .p99_during_us > 0
                       then .p99_during_us / .p99_outside_us else empty end')"
        done
    done
    stop_upstream_b
}

r5_report() {
    local name n failed
    echo "### R5: reload under load ($r5_reloads reloads ${r5_every} s apart during 16 parallel connect, 1 KiB each way, close cycles and 50 long transfers)"
    echo
    echo "| contender | reloads | cycles | failed (during / outside) | broken long transfers | p99 us during | p99 us outside | ratio | p99 connect us (during / outside) | rounds |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for name in "${r5_relays[@]}"; do
        if [ "$name" = iocpd ] && ! iocpd_reloads; then
            echo "| iocpd | not measured: this build has no reload | | | | | | | | |"
            continue
        fi
        n=$(total R5 "$name" reloads_done)
        [ -n "$n" ] || continue
        failed=$(total R5 "$name" reloads_failed)
        [ "${failed:-0}" = 0 ] || n="$n ($failed failed)"
        echo "| $name | $n | $(total R5 "$name" cycles) | $(total R5 "$name" failed_during) / $(total R5 "$name" failed_outside) | $(total R5 "$name" long_broken) | $(fmt "$(med R5 "$name" p99_during_us)" 0) | $(fmt "$(med R5 "$name" p99_outside_us)" 0) | $(r5_x "$(med R5 "$name" p99_ratio)") | $(fmt "$(med R5 "$name" p99_connect_during_us)" 0) / $(fmt "$(med R5 "$name" p99_connect_outside_us)" 0) | $(rounds_of R5 "$name" cycles) |"
    done
    echo
    echo "Reloads, cycles, failed and broken are totals over the rounds; the p99 columns"
    echo "and the ratio are medians, each of its own: the ratio is p99 during / p99"
    echo "outside of each run (the two share its conditions), not the quotient of the"
    echo "columns. A cycle is \"during\" when it overlaps a reload: from the reload"
    echo "command's start to ${r5_window} s after it returned. p99 is a whole cycle (connect"
    echo "to the 1 KiB echoed back: the time to a served connection); the connect alone"
    echo "completes in the kernel's accept queue whatever the relay does, and is shown"
    echo "for reference. Each reload swaps the order of the relay's two upstreams in its"
    echo "config: iocpd gets SIGHUP, HAProxy (\`-W\`, master-worker) SIGUSR2 to its"
    echo "master, nginx \`nginx -s reload\`."
    echo
}

# r5_better A_FAILED A_BROKEN A_RATIO P_FAILED P_BROKEN P_RATIO: whether A
# (iocpd) beats P (a peer) on all three: fewer failed and fewer broken (a
# tie at 0 counts: nothing beats none) and a lower p99 ratio.
r5_better() {
    awk -v af="$1" -v ab="$2" -v ar="$3" -v pf="$4" -v pb="$5" -v pr="$6" 'BEGIN {
        exit !((af < pf || af + pf == 0) && (ab < pb || ab + pb == 0) && ar < pr) }'
}

r5_targets() {
    local text name f b ratio n detail ok=1 missing=0
    local -A fail broken rat
    local texts=("R5 iocpd: 0 failed and 0 broken connections over $((rounds * r5_reloads)) reloads"
        "R5 p99 during reloads <= 1.5x without"
        "R5 better than HAProxy and nginx on failed, broken and p99 ratio")
    if ! iocpd_reloads; then
        for text in "${texts[@]}"; do
            printf -- '- **NOT MET**: %s (not measured: this build has no reload)\n' "$text"
        done
        return
    fi
    for name in "${r5_relays[@]}"; do
        f=$(total R5 "$name" failed_during)
        [ -n "$f" ] && f=$((f + $(total R5 "$name" failed_outside)))
        fail[$name]=$f
        broken[$name]=$(total R5 "$name" long_broken)
        rat[$name]=$(med R5 "$name" p99_ratio)
    done
    n=$(total R5 iocpd reloads_done)
    f=${fail[iocpd]}
    b=${broken[iocpd]}
    [ -n "$f" ] && texts[0]="R5 iocpd: 0 failed and 0 broken connections over $n reloads"
    target "${texts[0]}" "$([ -n "$f" ] && echo $((f + b)))" "<=" 0 \
        "iocpd ${f:-n/a} failed, ${b:-n/a} broken"
    ratio=${rat[iocpd]}
    detail="iocpd p99 $(fmt "$(med R5 iocpd p99_during_us)" 0) us during, $(fmt "$(med R5 iocpd p99_outside_us)" 0) us outside: $(r5_x "$ratio")"
    # The p99 is of the cycles that were served: with cycles failing
    # during the reloads it says nothing of them.
    if [ "$(total R5 iocpd failed_during)" != 0 ] && [ -n "$ratio" ]; then
        printf -- '- **NOT MET**: %s (%s, but %s cycles failed during the reloads)\n' "${texts[1]}" \
            "$detail" "$(total R5 iocpd failed_during)"
    else
        target "${texts[1]}" "$ratio" "<=" 1.5 "$detail"
    fi
    detail=
    for name in "${r5_relays[@]}"; do
        if [ -z "${fail[$name]}" ] || [ -z "${rat[$name]}" ]; then
            missing=1
        elif [ "$name" != iocpd ] && ! r5_better "$f" "$b" "$ratio" \
            "${fail[$name]}" "${broken[$name]}" "${rat[$name]}"; then
            ok=0
        fi
        detail="$detail${detail:+; }$name ${fail[$name]:-n/a} failed, ${broken[$name]:-n/a} broken, ratio $(r5_x "${rat[$name]}")"
    done
    [ "$missing" = 1 ] && ok=
    target "${texts[2]}" "$ok" ">=" 1 "$detail"
}
