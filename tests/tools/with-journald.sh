#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# with-journald.sh CMD [ARGS...]: run CMD beside a private systemd-journald in
# a new mount namespace (tmpfs over /run/systemd, /run/log, /var/log/journal),
# so tests can read structured fields back with journalctl without a PID-1
# systemd and without touching the host journal. Needs root. Exit: CMD's.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
if [ "${_SEALMAIL_JOURNALD_NS:-}" != 1 ]; then
	exec env _SEALMAIL_JOURNALD_NS=1 unshare --mount --propagation private -- "$0" "$@"
fi
unset _SEALMAIL_JOURNALD_NS
for d in /run/systemd /run/log /var/log/journal; do
	mkdir -p "$d"
	mount -t tmpfs -o mode=0755 tmpfs "$d"
done
/lib/systemd/systemd-journald >/dev/null 2>&1 &
jpid=$!
for _ in $(seq 1 200); do
	[ -S /run/systemd/journal/socket ] && break
	sleep 0.05
done
[ -S /run/systemd/journal/socket ] || { echo "journald did not start" >&2; kill "$jpid"; exit 1; }
set +e
"$@"
rc=$?
kill "$jpid" 2>/dev/null
wait "$jpid" 2>/dev/null
exit "$rc"
