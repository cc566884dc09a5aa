# shellcheck shell=bash source-path=SCRIPTDIR
# bench/lib/setup.sh: what has to be there before the first run: the Debian
# packages (installed as root through apt-get, unless --no-install), the
# bench tools built with cc, iocpd (Release) built with CMake, and for the
# Wine part iocpd.exe and asio_echo.exe cross-built with mingw-w64. Builds
# go to IOCPD_BENCH_CACHE and are incremental.

[ -z "${bench_lib_setup:-}" ] || return 0
bench_lib_setup=1
# shellcheck source=common.sh
. "${BASH_SOURCE[0]%/*}/common.sh"

# Installs the packages that are missing, or says which are missing. Exits
# if a tool the script itself needs is not there.
install_missing() {
    local need_pkgs missing=() p t policy
    need_pkgs=(haproxy nginx libnginx-mod-stream rinetd socat iperf3 jq nodejs iproute2
        cmake ninja-build gcc libc6-dev libinih-dev)
    if [ "$wine" = 1 ]; then
        need_pkgs+=(libasio-dev g++-mingw-w64-x86-64 gcc-mingw-w64-x86-64 wine wine64 wine64-tools)
    fi
    for p in "${need_pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$install" = 1 ] && [ "$(id -u)" = 0 ]; then
            log "installing: ${missing[*]}"
            # The packages must not start their own daemons (nginx on port 80,
            # haproxy...): a policy-rc.d that forbids it, only for this install
            # and only if the system has none.
            policy=0
            if [ ! -e /usr/sbin/policy-rc.d ]; then
                printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
                chmod +x /usr/sbin/policy-rc.d
                policy=1
            fi
            apt-get update -qq >"$work/apt.log" 2>&1
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$work/apt.log" 2>&1 ||
                log "apt-get install failed (see below); going on with what is there"
            [ "$policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
            tail -n 3 "$work/apt.log" >&2
        else
            log "missing packages (not installing): ${missing[*]}"
        fi
    fi
    for t in jq ss cc cmake; do
        command -v "$t" >/dev/null || {
            echo "run.sh: '$t' is required" >&2
            exit 1
        }
    done
}

# build_tool NAME FILE...: builds $bin/NAME from the .c files among FILE,
# unless it is newer than every FILE (headers count, but are not compiled).
build_tool() {
    local name=$1 f stale=0 srcs=()
    shift
    [ -x "$bin/$name" ] || stale=1
    for f in "$@"; do
        [ "$f" -nt "$bin/$name" ] && stale=1
        case $f in *.c) srcs+=("$f") ;; esac
    done
    [ "$stale" = 1 ] || return 0
    cc -O2 -std=c11 -Wall -Wextra -Wstrict-prototypes -pedantic -o "$bin/$name" "${srcs[@]}" ||
        exit 1
}

build_tools() {
    mkdir -p "$bin"
    log "building the bench tools"
    # loadgen is a folder of sources; the others are one file each.
    build_tool loadgen "$here"/loadgen/*.[ch]
    build_tool epoll_echo "$here/epoll_echo.c"
    build_tool udp_echo "$here/udp_echo.c"
    build_tool proctree "$here/proctree.c"
}

# Builds $cache/native/iocpd (Release, no tests); exits if that fails.
build_iocpd() {
    local gen=()
    command -v ninja >/dev/null && gen=(-G Ninja)
    log "building iocpd (Release)"
    if ! { cmake -S "$root" -B "$cache/native" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DIOCPD_BUILD_TESTS=OFF >"$work/build-native.log" 2>&1 &&
        cmake --build "$cache/native" --target iocpd >>"$work/build-native.log" 2>&1; }; then
        cat "$work/build-native.log" >&2
        echo "run.sh: the native iocpd build failed" >&2
        exit 1
    fi
}

# skip_wine REASON: turns the Wine part off; the Wine section of the report
# says why (scenarios_wine.sh).
skip_wine() {
    wine=0
    # shellcheck disable=SC2034 # read by scenarios_wine.sh
    wine_note=$1
}

# Builds $cache/win/iocpd.exe and $bin/asio_echo.exe, or turns the Wine part
# off if either cannot be built.
build_wine() {
    local gen=()
    [ "$wine" = 1 ] || return 0
    command -v ninja >/dev/null && gen=(-G Ninja)
    log "building iocpd.exe and asio_echo.exe for the Wine part"
    if ! command -v x86_64-w64-mingw32-g++-posix >/dev/null || [ ! -e /usr/include/asio.hpp ] ||
        ! command -v wine >/dev/null; then
        skip_wine "skipped: mingw-w64 g++, libasio-dev or wine is missing"
    elif ! { cmake -S "$root" -B "$cache/win" "${gen[@]}" \
        -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64.cmake" -DCMAKE_BUILD_TYPE=Release \
        -DIOCPD_BUILD_TESTS=OFF >"$work/build-win.log" 2>&1 &&
        cmake --build "$cache/win" >>"$work/build-win.log" 2>&1; }; then
        tail -n 20 "$work/build-win.log" >&2
        skip_wine "skipped: the Windows cross build of iocpd failed"
    else
        # The asio headers go into a private folder: -I/usr/include would
        # drag glibc's headers into the mingw build.
        if [ ! -e "$cache/asio-include/asio.hpp" ] ||
            [ /usr/include/asio.hpp -nt "$cache/asio-include/asio.hpp" ]; then
            rm -rf "$cache/asio-include"
            mkdir -p "$cache/asio-include"
            cp -r /usr/include/asio /usr/include/asio.hpp "$cache/asio-include/"
        fi
        if [ ! -e "$bin/asio_echo.exe" ] || [ "$here/asio_echo.cpp" -nt "$bin/asio_echo.exe" ]; then
            if ! x86_64-w64-mingw32-g++-posix -std=c++17 -D_WIN32_WINNT=0x0601 -O2 \
                -I"$cache/asio-include" -o "$bin/asio_echo.exe" "$here/asio_echo.cpp" \
                -lws2_32 -lmswsock -static >"$work/build-asio.log" 2>&1; then
                tail -n 20 "$work/build-asio.log" >&2
                skip_wine "skipped: bench/asio_echo.cpp did not build"
            fi
        fi
    fi
}
