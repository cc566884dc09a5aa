#!/usr/bin/env bash
# prefix.sh: a private Wine prefix with a persistent wineserver, for tests.
#
#   eval "$(tests/wine/prefix.sh start)"   # sets WINEPREFIX for this shell
#   ...run tests with tests/wine/iocpd-wine...
#   eval "$(tests/wine/prefix.sh stop)"    # stops the server, removes the prefix
#
# start: if WINEPREFIX is unset, makes a new temporary prefix (under
#   ${TMPDIR:-/tmp}) and marks it as ours; starts a persistent wineserver;
#   initialises the prefix with `wineboot` (a few seconds). Not `wineboot
#   -i`: that starts a second services.exe next to the one a new prefix
#   gets, and two SCMs, each with its own service database, answer service
#   calls at random (a service created through one is unknown to the
#   other). Without a persistent server, the wineserver exits a few
#   seconds after the last ordinary Wine process and takes every service
#   process with it. Prints
#   `export WINEPREFIX=...` and `export IOCPD_WINE_LOG=...` on stdout, for
#   eval; all else goes to stderr. IOCPD_WINE_LOG (default
#   $WINEPREFIX/iocpd-wine.log) receives the standard error of services.exe
#   and so of every service it starts; IOCPD_WINE_SERVICE_DEBUG (default:
#   WINEDEBUG, else -all) is the WINEDEBUG those processes get, e.g.
#   "-all,+eventlog" to see ReportEventW calls. IOCPD_WINE_SERVER_TRACE,
#   if set, names a file that receives the wineserver's request trace
#   (`wineserver -d1`: one line per request and per reply, prefixed with
#   the calling thread's id); bench/count_wine.sh counts requests with it.
# stop: kills the wineserver of $WINEPREFIX and waits for it to go; removes
#   the prefix only if `start` created it (a prefix the caller chose is kept).
#   Prints `unset WINEPREFIX IOCPD_WINE_LOG` on stdout when it removed it.
#
# Standard input is never read, so this works under CI with no terminal.

set -euo pipefail

# The file that marks a prefix made by `start`, in the prefix's parent.
marker=.iocpd-wine-temp-prefix

find_tool() {
    if command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
    elif [ -x "/usr/lib/wine/$1" ]; then
        echo "/usr/lib/wine/$1"
    else
        echo "prefix.sh: $1 not found (apt-get install wine wine64)" >&2
        exit 127
    fi
}

start() {
    local top log wineserver
    wineserver=$(find_tool wineserver)
    if [ -z "${WINEPREFIX:-}" ]; then
        top=$(mktemp -d "${TMPDIR:-/tmp}/iocpd-wine.XXXXXX")
        : >"$top/$marker"
        export WINEPREFIX="$top/prefix"
    fi
    # The caller learns WINEPREFIX only on success, so on failure undo
    # everything here (stop keeps a prefix that the caller chose).
    trap 'stop >/dev/null' EXIT
    export WINEDEBUG=${WINEDEBUG--all}

    mkdir -p -- "$WINEPREFIX"

    # -p: persist until killed. Start it before wineboot: wineboot would
    # otherwise start an ordinary server, and a second server cannot start
    # while that one lives. The server forks into the background; its output
    # must be detached, or a shell reading ours would wait forever.
    # The server's debug output goes to its standard error, which it keeps
    # when it forks into the background.
    local server_args=(-p) trace=/dev/null
    if [ -n "${IOCPD_WINE_SERVER_TRACE:-}" ]; then
        server_args+=(-d1)
        trace=$IOCPD_WINE_SERVER_TRACE
    fi
    if ! "$wineserver" "${server_args[@]}" </dev/null >/dev/null 2>>"$trace"; then
        # A server already runs for this prefix and may not be persistent:
        # replace it, since tests that start services need a persistent one.
        echo "prefix.sh: restarting the running wineserver of $WINEPREFIX" >&2
        "$wineserver" -k </dev/null >/dev/null 2>&1 || true
        "$wineserver" -w </dev/null >/dev/null 2>&1 || true
        "$wineserver" "${server_args[@]}" </dev/null >/dev/null 2>>"$trace"
    fi

    # wineboot starts services.exe, and every service process (e.g. iocpd
    # run by the SCM) inherits its standard error and its WINEDEBUG: keep
    # that stream in a log file that tests can read (e.g. to assert Event
    # Log messages, which Wine prints as "trace:eventlog:ReportEventW L..."
    # when IOCPD_WINE_SERVICE_DEBUG=+eventlog).
    log=${IOCPD_WINE_LOG:-$WINEPREFIX/iocpd-wine.log}
    : >>"$log"
    # Mono and Gecko cannot be installed offline and nothing here needs them;
    # disabling them only for wineboot saves its attempt to set them up.
    if ! WINEDEBUG=${IOCPD_WINE_SERVICE_DEBUG:-$WINEDEBUG} \
        WINEDLLOVERRIDES="mscoree,mshtml=" wineboot </dev/null >>"$log" 2>&1; then
        echo "prefix.sh: wineboot failed for $WINEPREFIX:" >&2
        cat "$log" >&2
        exit 1
    fi
    trap - EXIT
    printf 'export WINEPREFIX=%q\n' "$WINEPREFIX"
    printf 'export IOCPD_WINE_LOG=%q\n' "$log"
}

stop() {
    local wineserver top
    if [ -z "${WINEPREFIX:-}" ]; then
        echo "prefix.sh: WINEPREFIX is not set; nothing to stop" >&2
        return 0
    fi
    wineserver=$(find_tool wineserver)
    if [ -d "$WINEPREFIX" ]; then
        "$wineserver" -k </dev/null >/dev/null 2>&1 || true
        # -w returns once the server (if any) has exited.
        "$wineserver" -w </dev/null >/dev/null 2>&1 || true
    fi
    top=$(dirname -- "$WINEPREFIX")
    if [ -e "$top/$marker" ]; then
        rm -rf -- "$top"
        echo "unset WINEPREFIX IOCPD_WINE_LOG"
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
