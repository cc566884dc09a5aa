#!/usr/bin/env bash
# deps.sh: install (with apt-get, Debian 12) everything that building iocpd
# and running all of its tests needs: the native build, the sanitizer build
# and the Windows cross build run under Wine. Idempotent; when every package
# is already installed it does nothing (not even apt-get update), so running
# it again is instant. Needs root (or sudo). Never reads standard input.

set -euo pipefail

packages=(
    # native build and tests
    build-essential cmake ninja-build pkg-config python3 procps
    # the Prometheus text parser, for the metrics tests
    python3-prometheus-client
    libinih-dev
    # AddressSanitizer/UBSan build with clang (gcc's runtimes come with gcc)
    clang libclang-rt-14-dev
    # Windows cross build: compiler, windres, windmc, dlltool
    gcc-mingw-w64-x86-64
    # Wine 8 to run the Windows build (wine64 is the loader, wine the
    # launcher scripts such as wineboot), and the Winelib tools and headers
    # for the inih shim (build-aux/wine-inih). fonts-wine is only a
    # Recommends of Wine, installed explicitly so that a prefix set up
    # without recommends is the same as the one the tests were written on.
    wine wine64 wine64-tools libwine-dev fonts-wine
    # MSI packaging (installer/): wixl, and msibuild to restore the
    # REG_EXPAND_SZ type wixl drops
    wixl msitools
    # The Linux package (linux.package): systemd for systemd-analyze verify
    # and systemctl (nothing is started: it works without systemd
    # running); `file`, which CPack's dpkg-shlibdeps step needs
    # (dpkg-shlibdeps comes with build-essential's dpkg-dev)
    systemd file
    # The house style, checked by scripts/lint.sh
    clang-format shellcheck
    # Interop: the PROXY protocol against the real HAProxy and nginx
    # (tests/test_proxy_interop.py runs them on loopback itself)
    haproxy nginx libnginx-mod-stream
    # UDP relaying of a real protocol: the DNS server dnsmasq (the -base
    # package: the program without the system service) and the client dig
    # (tests/test_udp_dns.py runs both on loopback itself)
    dnsmasq-base bind9-dnsutils
    # The UDP benchmarks' socat contender (bench/run.sh --only udp)
    socat
)

# Prints the names, among the arguments, of the packages that are not
# installed (one dpkg-query for all: this is the fast path of every run).
not_installed() {
    local have
    have=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null |
        awk '$2 == "installed" { print $1 }' || true)
    for p in "$@"; do
        grep -qxF -- "$p" <<<"$have" || echo "$p"
    done
}

mapfile -t missing < <(not_installed "${packages[@]}")

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps.sh: all ${#packages[@]} packages are installed"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo -n)
    else
        echo "deps.sh: need root to install: ${missing[*]}" >&2
        exit 1
    fi
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# HAProxy and nginx are run by the tests, never as services: as root, a
# policy-rc.d keeps their packages from starting daemons (nginx on port
# 80) while they are installed.
if [ "$(id -u)" -eq 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${sudo[@]}" apt-get update -q </dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" </dev/null

mapfile -t still < <(not_installed "${packages[@]}")
if [ ${#still[@]} -ne 0 ]; then
    echo "deps.sh: still not installed: ${still[*]}" >&2
    exit 1
fi
echo "deps.sh: done"
