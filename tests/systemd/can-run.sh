#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Exits 0 when this machine can run the real-systemd test (tests/systemd/run.sh:
# systemd 252 as PID 1 of a systemd-nspawn container); otherwise prints why on
# one line and exits 1. Cheap: starts no container. The Debian mirror is not
# probed here; run.sh reports a failed debootstrap as a failure.
why() { echo "$*"; exit 1; }
[ "$(id -u)" = 0 ] || why "needs root (systemd-nspawn, overlay mounts)"
command -v systemd-nspawn >/dev/null || why "systemd-nspawn missing (make deps installs systemd-container)"
ROOTFS=${SEALMAIL_ROOTFS:-/var/cache/sealmail/systemd-rootfs}
if [ ! -e "$ROOTFS/.sealmail-rootfs" ]; then
	command -v debootstrap >/dev/null || why "no cached rootfs and debootstrap missing (make deps)"
fi
# nspawn needs mount, PID and network namespaces and a cgroup hierarchy.
unshare --mount --pid --net --fork true 2>/dev/null || why "cannot create namespaces (unprivileged container?)"
[ -d /sys/fs/cgroup ] || why "no /sys/fs/cgroup"
exit 0
