# shellcheck shell=bash source-path=SCRIPTDIR
# bench/lib/settings.sh: the command line of bench/run.sh, the environment
# variables it reads, and the settings they select (run lengths, rounds,
# connection counts). Sourced by run.sh before anything else; every other
# file reads these settings, and two change one: setup.sh turns wine off
# when the Wine part cannot be built, report.sh sets keep when the report
# goes to the work directory. bench/run.sh's header documents the options.
#
# The variables set here are read by the other files, which source this
# one; shellcheck checks those reads there. Here it would report each as
# unused (SC2034).
# shellcheck disable=SC2034

[ -z "${bench_lib_settings:-}" ] || return 0
bench_lib_settings=1

# The bench/ folder (bench tool sources, node_echo.js) and the project root.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
root=$(dirname "$here")

# parse_options ARG...: sets the settings from run.sh's arguments and the
# environment. Exits 0 after --help, 2 on a bad option.
parse_options() {
    cmdline="bash bench/run.sh${*:+ $*}"
    quick=0
    install=1
    wine=1
    rounds=
    only=
    write_asked=
    write=
    keep=0
    wine_exe=
    while [ $# -gt 0 ]; do
        case $1 in
        --quick) quick=1 ;;
        --no-install) install=0 ;;
        --no-wine) wine=0 ;;
        --rounds)
            if [ $# -lt 2 ]; then
                echo "run.sh: --rounds needs a positive number" >&2
                exit 2
            fi
            rounds=$2
            shift
            ;;
        --only)
            if [ $# -lt 2 ] || [ -z "$2" ]; then
                echo "run.sh: --only needs scenario names, e.g. --only r5 or --only r1,e4" >&2
                exit 2
            fi
            only=$2
            shift
            ;;
        --write)
            write=1
            write_asked=1
            ;;
        --no-write) write=0 ;;
        --keep) keep=1 ;;
        --wine-exe)
            if [ $# -lt 2 ] || [ ! -f "$2" ]; then
                echo "run.sh: --wine-exe needs the path of an iocpd.exe" >&2
                exit 2
            fi
            wine_exe=$(realpath -- "$2")
            shift
            ;;
        -h | --help)
            # run.sh's opening comment, up to its first blank line, is the help.
            sed -n '2,/^$/s/^# \{0,1\}//p' "$here/run.sh"
            exit 0
            ;;
        *)
            echo "run.sh: unknown option '$1' (try --help)" >&2
            exit 2
            ;;
        esac
        shift
    done

    if [ "$quick" = 1 ]; then
        rounds=${rounds:-1}
        t_bulk=1         # iperf3 seconds per R1 run
        t_msg=1          # seconds per echo / connrate run
        warm=0.2         # echo warm-up seconds, not measured
        idle_big=1000    # R4 connections (U3 sessions) for the relays that scale
        idle_hold=0.5
        t_wine=1.5
        t_e4=1.5         # seconds per E4 run, after its warm-up
        warm_e4=0.5
        r5_reloads=4     # reloads per R5 run,
        r5_every=1       # this many seconds apart; a reload counts from its
        r5_window=0.5    # command to this many seconds after it returned
        write=${write:-0}
    else
        rounds=${rounds:-3}
        t_bulk=3
        t_msg=2.5
        warm=0.3
        idle_big=10000
        idle_hold=1
        t_wine=3
        t_e4=5
        warm_e4=1
        r5_reloads=10
        r5_every=1.5
        r5_window=1
        write=${write:-1}
    fi
    case $rounds in
    '' | *[!0-9]* | 0)
        echo "run.sh: --rounds needs a positive number" >&2
        exit 2
        ;;
    esac
    workers=${BENCH_WORKERS:-1}
    base=${BENCH_PORT_BASE:-29100}
    cache=${IOCPD_BENCH_CACHE:-/tmp/iocpd-bench-cache}
    wine_conns=20     # the Wine runs: E2-like and R2-like, with fewer connections
    e4_conns=300      # E4: concurrent bulk echo streams
    e4_window=1048576 # E4: bytes each stream may have unechoed
    u1_sessions=50    # U1: UDP sessions, one 64 B datagram out on each
    u2_sessions=4     # U2: UDP sessions streaming 1,400 B datagrams,
    u2_window=16      # each with at most this many out
}
