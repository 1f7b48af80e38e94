#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# The real-systemd test (`make check-systemd`, and the systemd tier of
# `make check`). On this host (PID 1 need not be systemd):
#   1. checks what needs no container: units/gen-units.sh --check, every
#      configuration key documented in etc/sealmail.conf, `make install`
#      layouts for PREFIX=/usr and /usr/local, the config never overwritten;
#   2. debootstraps a minimal Debian 12 rootfs with the handlers' runtime
#      libraries, redis-server, swaks and python3, once, into a cache
#      (SEALMAIL_ROOTFS, default /var/cache/sealmail/systemd-rootfs; about
#      360 MB and a few minutes on the first run);
#   3. `make install DESTDIR=<stage> PREFIX=/usr`, then boots the rootfs with
#      systemd-nspawn (systemd 252 as PID 1, private network, writable overlay
#      over the cached rootfs) and runs tests/systemd/inside.sh in it.
# Exit status: 0 when everything passed. Results are kept in $B/systemd/
# (inside.log, results.txt with security scores and conn/s, journal.json).
# Environment: B (build dir), SEALMAIL_ROOTFS, SEALMAIL_SYSTEMD_TIMEOUT (s,
# default 900), SEALMAIL_BENCH_SECS (2), SEALMAIL_BENCH_REPS (1),
# SEALMAIL_BENCH_CONCS ("1 8"), SEALMAIL_SYSTEMD_REDIS=0 (leave Redis out),
# SEALMAIL_DEBIAN_MIRROR (debootstrap's own default when unset),
# SEALMAIL_KEEP=1 keeps the work directory.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
B=${B:-build}
ROOTFS=${SEALMAIL_ROOTFS:-/var/cache/sealmail/systemd-rootfs}
TIMEOUT=${SEALMAIL_SYSTEMD_TIMEOUT:-900}
MACHINE=sealmail-test-$$
# What the handlers link against (ldd build/*), plus what the test uses.
PKGS=systemd,systemd-sysv,dbus,libsystemd0,libseccomp2,libssl3,libsqlcipher0,libhiredis0.14
PKGS=$PKGS,libsodium23,libunbound8,dns-root-data,redis-server,swaks,python3,openssl
# make SAN=1 builds link the sanitizer runtimes
PKGS=$PKGS,libasan8,libubsan1
STAMP="bookworm minbase $PKGS"
say() { echo "[systemd-test] $*"; }
ts() { date +%s.%N; }
el() { awk -v a="$1" -v b="$(ts)" 'BEGIN{printf "%.1f", b-a}'; }
T0=$(ts)

why=$(tests/systemd/can-run.sh) || { say "cannot run here: $why"; exit 1; }
[ -x "$B/sealctl" ] || { say "$B/sealctl missing: run make first"; exit 1; }

W=$(mktemp -d /tmp/sealmail-systemd.XXXXXX)
cleanup() {
	mountpoint -q "$W/root" 2>/dev/null && umount "$W/root"
	if [ "${SEALMAIL_KEEP:-0}" = 1 ]; then say "kept $W"; else rm -rf "$W"; fi
	# nspawn leaves this empty directory behind when /run is not a tmpfs
	rmdir "/run/systemd/nspawn/propagate/$MACHINE" 2>/dev/null || true
}
trap cleanup EXIT

# ---- 1. host-side checks ------------------------------------------------------
hfail=0
hpass=0
hok() { echo "PASS: $*"; hpass=$((hpass + 1)); }
hbad() { echo "FAIL: $*"; hfail=$((hfail + 1)); }
SAN=
[ "$(basename "$B")" = build-san ] && SAN=SAN=1
inst() { # inst DESTDIR [make variables...]
	local d=$1
	shift
	make --no-print-directory -s install DESTDIR="$d" $SAN "$@" >"$W/install.log" 2>&1 ||
		{ cat "$W/install.log"; return 1; }
}
say "host checks"
if units/gen-units.sh --check; then hok "units/ match units/gen-units.sh"; else hbad "units/ are stale"; fi
# Every key of the table in lib/sys/conf.c is documented with its default.
keys=$(sed -n 's/^[[:space:]]*K("\([a-z_.]*\)".*/\1/p' lib/sys/conf.c)
nk=0
for k in $keys; do
	nk=$((nk + 1))
	grep -qE "^#?$(echo "$k" | sed 's/\./\\./g') =" etc/sealmail.conf || hbad "etc/sealmail.conf lacks $k"
done
[ "$nk" -gt 10 ] && hok "etc/sealmail.conf documents all $nk keys of lib/sys/conf.c" || hbad "no keys found in lib/sys/conf.c"
# The file parses, as shipped and with every commented-out default enabled.
mkdir -p "$W/conf/state"
sed -e 's/^#\([a-z_.]* =\)/\1/' -e "s|^state_dir = .*|state_dir = $W/conf/state|" \
	etc/sealmail.conf >"$W/conf/all.conf"
for c in etc/sealmail.conf "$W/conf/all.conf"; do
	out=$("$B/sealctl" -c "$c" domain list 2>&1 || true)
	if echo "$out" | grep -q "$c:[0-9]"; then hbad "$c does not parse: $out"; else hok "$c parses"; fi
done
# make install, PREFIX=/usr (the layout the container uses)
S=$W/lab/stage
if inst "$S" PREFIX=/usr; then
	for f in usr/sbin/sealctl usr/lib/systemd/system/sealmail.target usr/lib/sysusers.d/sealmail.conf \
		usr/lib/tmpfiles.d/sealmail.conf etc/sealmail/sealmail.conf usr/share/doc/sealmail; do
		[ -e "$S/$f" ] || hbad "make install did not create /$f"
	done
	for h in smtpd lmtpd submitd imapd pop3d; do
		if [ -x "$B/$h" ]; then
			[ -x "$S/usr/libexec/sealmail/$h" ] && [ -e "$S/usr/lib/systemd/system/sealmail-$h-fork.service" ] ||
				hbad "make install: $h or its units missing"
		else
			[ -e "$S/usr/lib/systemd/system/sealmail-$h-fork.service" ] &&
				hbad "make install: units of the unbuilt $h installed"
			echo "################ $h is not built: not installed, not tested ################"
		fi
	done
	bad_exec=$(grep -h '^ExecStart=' "$S"/usr/lib/systemd/system/*.service | awk '{print $1}' |
		sed 's/^ExecStart=//' | sort -u | while read -r p; do [ -x "$S$p" ] || echo "$p"; done)
	[ -z "$bad_exec" ] && hok "make install PREFIX=/usr: every ExecStart= is installed" ||
		hbad "ExecStart= paths not installed: $bad_exec"
	# a second install keeps the admin's configuration
	echo "# local edit" >>"$S/etc/sealmail/sealmail.conf"
	if inst "$S" PREFIX=/usr && grep -q '^# local edit' "$S/etc/sealmail/sealmail.conf" &&
		cmp -s etc/sealmail.conf "$S/etc/sealmail/sealmail.conf.default"; then
		hok "make install keeps an existing sealmail.conf (new one as sealmail.conf.default)"
	else
		hbad "make install overwrote sealmail.conf"
	fi
	sed -i '/^# local edit/d' "$S/etc/sealmail/sealmail.conf"
	rm -f "$S/etc/sealmail/sealmail.conf.default"
else
	hbad "make install DESTDIR=$S PREFIX=/usr failed"
fi
# PREFIX=/usr/local with the configuration in /usr/local/etc
L=$W/local
if inst "$L" PREFIX=/usr/local SYSCONFDIR=/usr/local/etc; then
	u=$L/usr/local/lib/systemd/system/sealmail-smtpd-fork.service
	if [ ! -x "$B/smtpd" ]; then :
	elif grep -q '^ExecStart=/usr/local/libexec/sealmail/smtpd -c /usr/local/etc/sealmail/sealmail.conf$' "$u" &&
		grep -q '^LoadCredential=tls.key:/usr/local/etc/sealmail/tls.key$' "$u" &&
		[ -x "$L/usr/local/libexec/sealmail/smtpd" ] && [ -e "$L/usr/local/etc/sealmail/sealmail.conf" ]; then
		hok "make install PREFIX=/usr/local SYSCONFDIR=/usr/local/etc rewrites the unit paths"
	else
		grep -E '^(ExecStart|LoadCredential)=' "$u" || true
		hbad "PREFIX=/usr/local install: unit paths not rewritten"
	fi
else
	hbad "make install PREFIX=/usr/local failed"
fi
say "host checks: $hpass passed, $hfail failed"

# ---- 2. the cached rootfs ---------------------------------------------------------
mkdir -p "$(dirname "$ROOTFS")"
exec 9>"$ROOTFS.lock"
flock 9
if [ "$(cat "$ROOTFS/.sealmail-rootfs" 2>/dev/null)" != "$STAMP" ]; then
	t=$(ts)
	say "debootstrap bookworm -> $ROOTFS (first run only; a few minutes)"
	ok=0
	for try in 1 2; do
		rm -rf "$ROOTFS.tmp"
		if debootstrap --variant=minbase --include="$PKGS" bookworm "$ROOTFS.tmp" \
			${SEALMAIL_DEBIAN_MIRROR:+"$SEALMAIL_DEBIAN_MIRROR"} >"$W/debootstrap.log" 2>&1; then
			ok=1
			break
		fi
		say "debootstrap attempt $try failed:"
		tail -n 15 "$W/debootstrap.log"
	done
	[ $ok = 1 ] || { rm -rf "$ROOTFS.tmp"; exit 1; }
	rm -f "$ROOTFS.tmp"/var/cache/apt/archives/*.deb
	echo "$STAMP" >"$ROOTFS.tmp/.sealmail-rootfs"
	rm -rf "$ROOTFS"
	mv "$ROOTFS.tmp" "$ROOTFS"
	say "debootstrap: $(el "$t") s, $(du -sh "$ROOTFS" | cut -f1)"
fi
exec 9>&-

# ---- 3. stage the test and boot ---------------------------------------------------
install -m 0755 tests/systemd/inside.sh tests/systemd/readback.py "$W/lab/"
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -pthread -o "$W/lab/connrate" tests/systemd/connrate.c
[ -x "$B/tests/mboxdump" ] && install -m 0755 "$B/tests/mboxdump" "$W/lab/"
[ -n "$SAN" ] && touch "$W/lab/san"
mkdir -p "$W/out"
cat >"$W/runner.service" <<EOF
[Unit]
Description=sealmail real-systemd test runner
After=multi-user.target
[Service]
Type=oneshot
Environment=BENCH_SECS=${SEALMAIL_BENCH_SECS:-2} BENCH_REPS=${SEALMAIL_BENCH_REPS:-1} "BENCH_CONCS=${SEALMAIL_BENCH_CONCS:-1 8}"
Environment=USE_REDIS=${SEALMAIL_SYSTEMD_REDIS:-1}
ExecStart=/bin/bash /lab/inside.sh
StandardOutput=append:/lab-out/inside.log
StandardError=inherit
EOF
mkdir -p "$W/root" "$W/upper" "$W/ovl-work"
if mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$W/upper,workdir=$W/ovl-work" "$W/root"; then
	ROOT=(-D "$W/root")
else
	say "overlayfs unavailable, using --ephemeral (slower)"
	ROOT=(--ephemeral -D "$ROOTFS")
fi
# --register=no --keep-unit: no machined or bus on a host whose PID 1 is not
#   systemd. --private-network: only lo, so ports 25, 143... cannot clash with
#   the host. --system-call-filter: nspawn's own seccomp filter blocks bpf()
#   (then IPAddressDeny= is silently not enforced inside) and, in systemd 252,
#   the Landlock calls (then the handlers' sandbox finds no Landlock).
#   systemd.wants= on the kernel command line starts the runner after boot.
t=$(ts)
say "booting $MACHINE (timeout ${TIMEOUT}s)"
set +e
timeout -k 30 "$TIMEOUT" systemd-nspawn --quiet --register=no --keep-unit \
	--machine="$MACHINE" --private-network --console=pipe -b "${ROOT[@]}" \
	--system-call-filter="bpf landlock_create_ruleset landlock_add_rule landlock_restrict_self" \
	--bind-ro="$W/lab:/lab" --bind="$W/out:/lab-out" \
	--bind-ro="$W/runner.service:/etc/systemd/system/sealmail-test-runner.service" \
	systemd.wants=sealmail-test-runner.service </dev/null >"$W/out/nspawn.log" 2>&1
rc=$?
set -e
say "container ran $(el "$t") s, exit code $rc"
cat "$W/out/inside.log" 2>/dev/null || { say "no inside.log (the runner never started?)"; tail -n 30 "$W/out/nspawn.log"; }
mkdir -p "$B/systemd"
cp "$W/out/"* "$B/systemd/" 2>/dev/null || true
[ "$rc" = 124 ] && say "TIMEOUT after ${TIMEOUT}s"
if [ ! -s "$W/out/inside.log" ] && [ "$rc" = 0 ]; then rc=1; fi
total=$((hfail + rc))
say "host: $hpass passed, $hfail failed; container exit $rc; $(el "$T0") s in all; logs in $B/systemd/"
if [ "$total" = 0 ]; then say "OK"; else say "FAILED"; fi
[ "$total" = 0 ]
