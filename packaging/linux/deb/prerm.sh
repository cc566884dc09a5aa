#!/bin/sh
# prerm of the iocpd .deb (CPack installs it as DEBIAN/prerm). Before the
# package's files go: stop iocpd (it drains first), and disable it, so
# that no link to a unit that is gone stays behind. An upgrade ("upgrade")
# leaves it running; postinst restarts it on the new binary.
set -e

if [ "$1" = remove ] && command -v systemctl >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
        systemctl stop iocpd.service || true
    fi
    # Works without systemd running too: it only removes the links.
    systemctl disable iocpd.service >/dev/null 2>&1 || true
fi
exit 0
