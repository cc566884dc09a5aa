# shellcheck shell=bash source-path=SCRIPTDIR
# bench/lib/contenders.sh: starting and stopping what the scenarios measure
# and what they measure it against: the relays (iocpd, HAProxy with and
# without splice, nginx, rinetd, socat; for R5 iocpd, HAProxy and nginx
# ready to reload their config), the UDP relays (iocpd, nginx, socat), the
# echo servers (iocpd, epoll_echo, node), the upstreams (epoll_echo,
# iperf3, udp_echo), and under Wine iocpd.exe and the asio peer. Each
# starter writes the contender's config and log into the work directory,
# adds its process id to `started` (so that cleanup stops it) and waits,
# where its caller needs that, until it listens.

[ -z "${bench_lib_contenders:-}" ] || return 0
bench_lib_contenders=1
# shellcheck source=common.sh
. "${BASH_SOURCE[0]%/*}/common.sh"

iocpd=$cache/native/iocpd      # built by setup.sh (build_iocpd)
iocpd_exe=${wine_exe:-$cache/win/iocpd.exe} # built by setup.sh (build_wine), or --wine-exe

# Raises the descriptor limit as far as it goes, for the contenders and
# loadgen started from here; fdlimit is what it came to. The relays' limits
# and R4's connection counts follow from it.
raise_fd_limit() {
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
    fdlimit=$(ulimit -n)
}

# ----------------------------------------------------------------------------
# Relays

# The relays, in the order every relay table lists them. "direct" is no
# relay: the client talks to the upstream, the loopback ceiling.
relays=(direct iocpd haproxy haproxy-splice nginx rinetd socat)
declare -gA have # have[NAME] is 1 if relay NAME can run here

# Fills `have` from what is installed (after install_missing).
detect_contenders() {
    have[direct]=1
    have[iocpd]=1
    command -v haproxy >/dev/null && have[haproxy]=1 && have[haproxy-splice]=1
    command -v nginx >/dev/null && [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] && have[nginx]=1
    command -v rinetd >/dev/null && have[rinetd]=1
    command -v socat >/dev/null && have[socat]=1
}

# can_run NAME: whether relay NAME is installed (detect_contenders).
can_run() { [ -n "${have[$1]:-}" ]; }

# position NAME WORD...: the index of NAME among the words.
position() {
    local name=$1 i=0 w
    shift
    for w in "$@"; do
        [ "$w" = "$name" ] && echo "$i" && return
        i=$((i + 1))
    done
}

# The position of relay $1 in `relays`: its offset in a scenario's ports.
relay_index() { position "$1" "${relays[@]}"; }

# iocpd_service WORKERS: the [service] section of every iocpd config the
# bench writes: WORKERS workers, quiet, and a short drain so stops are quick.
iocpd_service() {
    printf '[service]\nworkers = %s\ndrain_timeout = 1s\nlog_level = warning\n' "$1"
}

# relay_config NAME DIR LISTEN_PORT UPSTREAM_PORT...: prints the config of
# relay NAME (iocpd, haproxy, haproxy-splice or nginx; nginx's pid file
# and error log go to DIR), listening on LISTEN_PORT and forwarding to the
# upstreams round robin, in the order given (R5 gives two).
relay_config() {
    local name=$1 dir=$2 lp=$3 maxconn up i=0
    shift 3
    # Half the descriptors for each side, less some for the process itself.
    maxconn=$(((fdlimit - 200) / 2))
    case $name in
    iocpd)
        cat <<EOF
$(iocpd_service "$workers")

[listener:relay]
listen = 127.0.0.1:$lp
handler = forward
upstream = $(printf '127.0.0.1:%s, ' "$@" | sed 's/, $//')
connect_timeout = 5s
idle_timeout = 10m
buffer_size = 64k
${iocpd_extra:-}
EOF
        ;;
    haproxy | haproxy-splice)
        # With splicing HAProxy also reserves a pipe (two descriptors) for
        # every fourth connection; it refuses to start if the descriptor
        # limit cannot cover maxconn that way.
        [ "$name" = haproxy-splice ] && maxconn=$(((fdlimit - 200) / 3))
        printf 'global\n    maxconn %s\n    nbthread %s\n' "$maxconn" "$workers"
        printf 'defaults\n    mode tcp\n    maxconn %s\n' "$maxconn"
        printf '    timeout connect 5s\n    timeout client 10m\n    timeout server 10m\n'
        printf 'listen relay\n    bind 127.0.0.1:%s\n' "$lp"
        if [ "$name" = haproxy-splice ]; then
            printf '    option splice-request\n    option splice-response\n'
        fi
        if [ $# = 1 ]; then
            printf '    server up 127.0.0.1:%s\n' "$1"
        else
            for up in "$@"; do
                i=$((i + 1))
                printf '    server up%s 127.0.0.1:%s\n' "$i" "$up"
            done
        fi
        ;;
    nginx)
        cat <<EOF
daemon off;
worker_processes $workers;
worker_rlimit_nofile $fdlimit;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
events { worker_connections $((fdlimit - 200)); }
stream {
EOF
        if [ $# = 1 ]; then
            printf '    server {\n        listen 127.0.0.1:%s;\n        proxy_pass 127.0.0.1:%s;\n    }\n' \
                "$lp" "$1"
        else
            printf '    upstream ups {\n'
            printf '        server 127.0.0.1:%s;\n' "$@"
            printf '    }\n    server {\n        listen 127.0.0.1:%s;\n        proxy_pass ups;\n    }\n' \
                "$lp"
        fi
        echo "}"
        ;;
    esac
}

# relay_config_file NAME: the file relay NAME reads relay_config's output
# from, in its directory.
relay_config_file() {
    case $1 in
    iocpd) echo iocpd.ini ;;
    haproxy | haproxy-splice) echo haproxy.cfg ;;
    nginx) echo nginx.conf ;;
    esac
}

# launch_relay NAME DIR [ARG...]: starts relay NAME (iocpd, haproxy,
# haproxy-splice or nginx) in the background on its config in DIR, its
# output to DIR/log; HAProxy gets ARG... as well. Sets relay_pid and adds
# it to `started`.
launch_relay() {
    local name=$1 dir=$2
    shift 2
    case $name in
    iocpd) "$iocpd" run -c "$dir/iocpd.ini" >"$dir/log" 2>&1 & ;;
    haproxy | haproxy-splice) haproxy "$@" -db -f "$dir/haproxy.cfg" >"$dir/log" 2>&1 & ;;
    nginx) nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/log" 2>&1 & ;;
    esac
    relay_pid=$!
    started+=("$relay_pid")
}

# relay_listens NAME DIR LISTEN_PORT: waits until the relay just started
# (relay_pid) listens; if it does not, logs the end of its logs, stops it,
# clears relay_pid and returns 1.
relay_listens() {
    wait_port "$3" "$relay_pid" 10 && return 0
    log "$1 did not start; its log:"
    tail -n 5 "$2/log" >&2
    [ ! -e "$2/error.log" ] || tail -n 5 "$2/error.log" >&2
    stop_pid "$relay_pid"
    relay_pid=
    return 1
}

# start_relay NAME LISTEN_PORT UPSTREAM_PORT: sets relay_pid ("" for
# direct) and relay_port (where clients connect). Returns 1 if it failed.
start_relay() {
    local name=$1 lp=$2 up=$3 dir=$work/$1-$2
    relay_pid=
    # shellcheck disable=SC2034 # relay_port is for the caller
    relay_port=$lp
    mkdir -p "$dir"
    case $name in
    direct)
        # shellcheck disable=SC2034 # relay_port is for the caller
        relay_port=$up
        return 0
        ;;
    iocpd | haproxy | haproxy-splice | nginx)
        relay_config "$name" "$dir" "$lp" "$up" >"$dir/$(relay_config_file "$name")"
        launch_relay "$name" "$dir"
        ;;
    rinetd)
        printf '127.0.0.1 %s 127.0.0.1 %s\n' "$lp" "$up" >"$dir/rinetd.conf"
        rinetd -f -c "$dir/rinetd.conf" >"$dir/log" 2>&1 &
        relay_pid=$!
        started+=("$relay_pid")
        ;;
    socat)
        # backlog=1024: socat's default listen backlog of 5 loses
        # connections in the bursts of R3 and R4 (the others default to
        # hundreds or thousands).
        socat -b 65536 "TCP-LISTEN:$lp,bind=127.0.0.1,fork,reuseaddr,backlog=1024" \
            "TCP:127.0.0.1:$up" \
            >"$dir/log" 2>&1 &
        relay_pid=$!
        started+=("$relay_pid")
        ;;
    esac
    relay_listens "$name" "$dir" "$lp"
}

stop_relay() {
    [ -n "${relay_pid:-}" ] && stop_pid "$relay_pid"
    relay_pid=
}

# Holds n idle connections or sessions (loadgen MODE, labelled LABEL)
# through the relay that runs now and measures its memory meanwhile: sets
# the caller's s0 and s1 (proc_stats before and while they are held), j
# (loadgen's JSON line, also kept in runs.jsonl) and est (how many were
# held), and stops the relay. Returns 1 when none was held.
# shellcheck disable=SC2034 # s0, s1, j and est are the caller's (bash's dynamic scope)
hold_idle() {
    local mode=$1 label=$2 n=$3 lpid i
    sleep 0.3
    s0=$(proc_stats "$relay_pid")
    rm -f "$work/ready"
    # In the background: the relay's memory is measured while loadgen
    # holds them (it touches the ready file once they are all up).
    "$bin/loadgen" "$mode" -p "$relay_port" -c "$n" -d "$idle_hold" -t 60 -r "$work/ready" \
        -l "$label" >"$work/idle.json" 2>"$work/idle.err" &
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
    [ -n "$est" ] && [ "$est" != 0 ] && [ -e "$work/ready" ]
}

# Whether this iocpd build reloads its config: such a build lists a reload
# command in `iocpd --help` and re-reads the config on SIGHUP. Without it
# SIGHUP ends iocpd, so R5 does not measure it.
iocpd_reloads() {
    local help
    # Read whole before grep: grep -q would close the pipe early, and
    # pipefail make iocpd's SIGPIPE a "no".
    help=$("$iocpd" --help 2>&1)
    grep -qw reload <<<"$help"
}

# start_reloadable NAME LISTEN_PORT UPSTREAM_A UPSTREAM_B: starts relay
# NAME (iocpd, haproxy or nginx) for R5, forwarding round robin to
# UPSTREAM_A then UPSTREAM_B, and writes DIR/reload.sh, which puts the
# same config with the two the other way round in place (so that each
# reload re-reads a changed file) and has the relay reload it: iocpd by
# SIGHUP; HAProxy, run in master-worker mode (-W), by SIGUSR2 to the
# master; nginx by `nginx -s reload`. Sets relay_pid, relay_port and
# reload_cmd (what loadgen runs); returns 1 if the relay did not start.
start_reloadable() {
    local name=$1 lp=$2 dir=$work/$1-$2 conf signal
    relay_pid=
    # shellcheck disable=SC2034 # relay_port is for the caller
    relay_port=$lp
    mkdir -p "$dir"
    conf=$(relay_config_file "$name")
    relay_config "$name" "$dir" "$lp" "$3" "$4" >"$dir/$conf.a"
    relay_config "$name" "$dir" "$lp" "$4" "$3" >"$dir/$conf.b"
    cp "$dir/$conf.a" "$dir/$conf"
    echo a >"$dir/variant"
    if [ "$name" = haproxy ]; then
        launch_relay "$name" "$dir" -W
    else
        launch_relay "$name" "$dir"
    fi
    relay_listens "$name" "$dir" "$lp" || return 1
    case $name in
    iocpd) signal="kill -HUP $relay_pid" ;;
    haproxy) signal="kill -USR2 $relay_pid" ;;
    nginx) signal="nginx -p '$dir' -e '$dir/error.log' -c '$dir/nginx.conf' -s reload" ;;
    esac
    # The new config replaces the old one by a rename: a relay never reads
    # half of it.
    cat >"$dir/reload.sh" <<EOF
#!/bin/sh
# R5: reloads $name (process $relay_pid) with its upstreams the other way round.
set -e
cd '$dir'
if [ "\$(cat variant)" = a ]; then next=b; else next=a; fi
cp "$conf.\$next" "$conf.new"
mv "$conf.new" "$conf"
echo "\$next" >variant
$signal
EOF
    # shellcheck disable=SC2034 # reload_cmd is for the caller
    reload_cmd="sh $dir/reload.sh"
}

# ----------------------------------------------------------------------------
# UDP relays (U1-U3)

# The UDP relays, in the order the UDP tables list them; "direct" is the
# client talking to the udp_echo upstream. HAProxy and rinetd relay no UDP.
udp_relays=(direct iocpd nginx socat)

# The position of UDP relay $1 in `udp_relays`: its offset in a UDP
# scenario's ports.
udp_relay_index() { position "$1" "${udp_relays[@]}"; }

# udp_relay_config NAME DIR LISTEN_PORT UPSTREAM_PORT: prints the config of
# UDP relay NAME (iocpd or nginx; nginx's pid file and error log go to
# DIR): one UDP listener forwarding every client's datagrams to the
# upstream over a socket of the client's own session, and the replies
# back. Sessions end after 10 minutes without a datagram, longer than any
# run; iocpd's max_sessions (10000 unless set) is lifted, as nginx's
# worker_connections are, since U3 opens 10,000 sessions. nginx's
# proxy_responses stays unset (no limit): a number would end a session
# after that many replies, and every ping would then pay for a new session
# and upstream socket, which iocpd's sessions do not.
udp_relay_config() {
    local name=$1 dir=$2 lp=$3 up=$4
    case $name in
    iocpd)
        cat <<EOF
$(iocpd_service "$workers")

[listener:udp]
listen = 127.0.0.1:$lp
protocol = udp
handler = forward
upstream = 127.0.0.1:$up
idle_timeout = 10m
max_sessions = 0
EOF
        ;;
    nginx)
        # A UDP session takes two of nginx's connections (the client's and
        # the upstream's) but one descriptor (the upstream socket): twice
        # the descriptor limit, less what the process keeps for itself.
        cat <<EOF
daemon off;
worker_processes $workers;
worker_rlimit_nofile $fdlimit;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
events { worker_connections $((2 * (fdlimit - 200))); }
stream {
    server {
        listen 127.0.0.1:$lp udp;
        proxy_pass 127.0.0.1:$up;
        proxy_timeout 10m;
    }
}
EOF
        ;;
    esac
}

# start_udp_relay NAME LISTEN_PORT UPSTREAM_PORT: starts UDP relay NAME
# (direct, iocpd, nginx or socat); sets relay_pid ("" for direct) and
# relay_port (where clients send). Returns 1 if it failed.
start_udp_relay() {
    local name=$1 lp=$2 up=$3 dir=$work/$1-udp-$2
    relay_pid=
    # shellcheck disable=SC2034 # relay_port is for the caller
    relay_port=$lp
    mkdir -p "$dir"
    case $name in
    direct)
        # shellcheck disable=SC2034 # relay_port is for the caller
        relay_port=$up
        return 0
        ;;
    iocpd)
        udp_relay_config iocpd "$dir" "$lp" "$up" >"$dir/iocpd.ini"
        "$iocpd" run -c "$dir/iocpd.ini" >"$dir/log" 2>&1 &
        ;;
    nginx)
        udp_relay_config nginx "$dir" "$lp" "$up" >"$dir/nginx.conf"
        nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/log" 2>&1 &
        ;;
    socat)
        # UDP4-LISTEN with fork: the first datagram from a new client
        # address forks a child, whose socket is connected to that client
        # and whose UDP4 (connected) socket is its own to the upstream; the
        # parent binds the port afresh for the next client. So each client
        # is a session, as in iocpd and nginx. (UDP4-RECVFROM with fork
        # forks a child for every datagram instead: 1,500 round trips/s
        # here.) -T 600: a child ends after 10 minutes without traffic.
        socat -T 600 "UDP4-LISTEN:$lp,bind=127.0.0.1,fork,reuseaddr" "UDP4:127.0.0.1:$up" \
            >"$dir/log" 2>&1 &
        ;;
    esac
    relay_pid=$!
    started+=("$relay_pid")
    wait_port "$lp" "$relay_pid" 10 udp && return 0
    log "$name (UDP) did not start; its log:"
    tail -n 5 "$dir/log" >&2
    [ ! -e "$dir/error.log" ] || tail -n 5 "$dir/error.log" >&2
    stop_pid "$relay_pid"
    relay_pid=
    return 1
}

# ----------------------------------------------------------------------------
# Upstreams

# start_epoll_echo PORT LOG VAR [OPTION]: an epoll_echo upstream on PORT
# (with OPTION, e.g. --proxy), logging to $work/LOG.log; sets the variable
# VAR to its pid; returns 1 if it does not listen within 10 s.
start_epoll_echo() {
    local pid
    "$bin/epoll_echo" -p "$1" ${4:+"$4"} >>"$work/$2.log" 2>&1 &
    pid=$!
    printf -v "$3" '%s' "$pid"
    started+=("$pid")
    wait_port "$1" "$pid" 10
}

# The pids of the two upstreams (set through start_epoll_echo).
upstream_pid=
upstream_b_pid=

# The epoll_echo upstream of the R2-R4 relays and the Wine relays, on
# p_echo (upstream_pid).
start_upstream() { start_epoll_echo "$p_echo" epoll_echo-upstream upstream_pid; }

stop_upstream() { stop_pid "$upstream_pid"; }

# The udp_echo upstream of the UDP relays, on UDP port p_udp_echo: sets
# udp_upstream_pid; returns 1 if it is not bound within 10 s.
start_udp_upstream() {
    "$bin/udp_echo" -p "$p_udp_echo" >>"$work/udp_echo.log" 2>&1 &
    udp_upstream_pid=$!
    started+=("$udp_upstream_pid")
    wait_port "$p_udp_echo" "$udp_upstream_pid" 10 udp
}

stop_udp_upstream() { stop_pid "$udp_upstream_pid"; }

# R5's second upstream, on p_echo_b (upstream_b_pid).
start_upstream_b() { start_epoll_echo "$p_echo_b" epoll_echo-upstream-b upstream_b_pid; }

stop_upstream_b() { stop_pid "$upstream_b_pid"; }

# The iperf3 server behind the R1 relays, on p_iperf: sets iperf_pid;
# returns 1 if it does not listen within 10 s.
start_iperf_server() {
    iperf3 -s -p "$p_iperf" -B 127.0.0.1 >>"$work/iperf3-server.log" 2>&1 &
    iperf_pid=$!
    started+=("$iperf_pid")
    wait_port "$p_iperf" "$iperf_pid" 10
}

# ----------------------------------------------------------------------------
# Echo servers

# echo_ini PORT WORKERS: an iocpd config with one echo listener.
echo_ini() {
    cat <<EOF
$(iocpd_service "$2")

[listener:echo]
listen = 127.0.0.1:$1
handler = echo
idle_timeout = 10m
EOF
}

# start_echo_server NAME PORT DIR: starts echo server NAME on PORT, its
# config and log in DIR, and sets server_pid; does not wait for it to
# listen (the caller starts them all, then waits). NAME is iocpd (with
# BENCH_WORKERS workers), iocpd-auto (the default, workers = 0),
# epoll_echo or node.
start_echo_server() {
    local name=$1 port=$2 dir=$3
    case $name in
    iocpd | iocpd-auto)
        if [ "$name" = iocpd ]; then
            echo_ini "$port" "$workers" >"$dir/$name.ini"
        else
            echo_ini "$port" 0 >"$dir/$name.ini"
        fi
        "$iocpd" run -c "$dir/$name.ini" >"$dir/$name.log" 2>&1 &
        ;;
    epoll_echo) "$bin/epoll_echo" -p "$port" >"$dir/$name.log" 2>&1 & ;;
    node) node "$here/node_echo.js" "$port" >"$dir/$name.log" 2>&1 & ;;
    esac
    server_pid=$!
    started+=("$server_pid")
}

# ----------------------------------------------------------------------------
# Under Wine (in the prefix scenarios_wine.sh starts)

declare -gA w_pid # process ids of the Wine contenders, by name

# start_wine_contenders DIR: iocpd.exe with an echo and a relay listener,
# and asio_echo.exe twice, as an echo server and as a relay; the relays'
# upstream is the native epoll_echo on p_echo. Returns 1 if one of them
# does not listen in time (Wine's first start in a prefix is slow).
start_wine_contenders() {
    local dir=$1 wrapper=$root/tests/wine/iocpd-wine
    cat >"$dir/iocpd.ini" <<EOF
$(iocpd_service "$workers")

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
    "$wrapper" "$iocpd_exe" run -c "Z:${dir//\//\\}\\iocpd.ini" >"$dir/iocpd.log" 2>&1 &
    w_pid[iocpd.exe]=$!
    "$wrapper" "$bin/asio_echo.exe" echo "$p_w_asio_echo" >"$dir/asio-echo.log" 2>&1 &
    w_pid[asio-echo]=$!
    "$wrapper" "$bin/asio_echo.exe" relay "$p_w_asio_relay" "$p_echo" >"$dir/asio-relay.log" 2>&1 &
    w_pid[asio-relay]=$!
    started+=("${w_pid[iocpd.exe]}" "${w_pid[asio-echo]}" "${w_pid[asio-relay]}")
    wait_port "$p_w_iocpd_echo" "${w_pid[iocpd.exe]}" 60 &&
        wait_port "$p_w_iocpd_relay" "${w_pid[iocpd.exe]}" 10 &&
        wait_port "$p_w_asio_echo" "${w_pid[asio-echo]}" 60 &&
        wait_port "$p_w_asio_relay" "${w_pid[asio-relay]}" 60
}

stop_wine_contenders() {
    local name
    for name in iocpd.exe asio-echo asio-relay; do
        stop_pid "${w_pid[$name]}"
    done
}
