#!/bin/sh
# postinst of the iocpd .deb (CPack installs it as DEBIAN/postinst).
# systemd rereads the unit file, and an upgrade restarts a running iocpd
# on the new binary (it drains first). A first install neither enables nor
# starts iocpd: edit /etc/iocpd/iocpd.ini, then `systemctl enable --now
# iocpd`. Without systemd running (a container, a chroot) nothing is done.
set -e

if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    # $2: the version configured before, empty on a first install.
    if [ -n "${2:-}" ]; then
        systemctl try-restart iocpd.service || true
    fi
fi
exit 0
