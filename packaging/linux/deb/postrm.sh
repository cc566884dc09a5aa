#!/bin/sh
# postrm of the iocpd .deb (CPack installs it as DEBIAN/postrm). After a
# removal systemd forgets the unit; a purge also deletes the access logs
# that iocpd.service's LogsDirectory= made (dpkg itself deletes
# /etc/iocpd/iocpd.ini then).
set -e

case "$1" in
remove | purge)
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
    fi
    ;;
esac
if [ "$1" = purge ]; then
    # With DynamicUser= the directory is /var/log/private/iocpd and
    # /var/log/iocpd a link to it.
    rm -rf /var/log/iocpd /var/log/private/iocpd
fi
exit 0
