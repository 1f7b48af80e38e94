#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# `make install`: copies the built programs, the systemd units of the
# handlers that were built, sysusers.d/tmpfiles.d files, the default
# configuration (never over an existing one) and the documentation into
# $DESTDIR. It changes nothing on the running system (no useradd, no
# daemon-reload): docs/INSTALL.md lists the steps that follow.
# Environment (set by the Makefile): B DESTDIR PREFIX SYSCONFDIR UNITDIR
# SYSUSERSDIR TMPFILESDIR MANDIR HANDLERS.
set -euo pipefail
B=${B:-build}
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
SYSUSERSDIR=${SYSUSERSDIR:-$PREFIX/lib/sysusers.d}
TMPFILESDIR=${TMPFILESDIR:-$PREFIX/lib/tmpfiles.d}
MANDIR=${MANDIR:-$PREFIX/share/man}
HANDLERS=${HANDLERS:-smtpd lmtpd submitd imapd pop3d queued sealctl}
LIBEXECDIR=$PREFIX/libexec/sealmail
DOCDIR=$PREFIX/share/doc/sealmail
U=units

say() { echo "  INSTALL $*"; }

# The handler a unit file belongs to: sealmail-imaps-fork.socket -> imapd.
unit_handler() {
	local n=${1#sealmail-}
	n=${n%.socket}
	n=${n%.service}
	n=${n%@}
	n=${n%-fork}
	case $n in
	imaps) n=imapd ;;
	pop3s) n=pop3d ;;
	submissions) n=submitd ;;
	esac
	echo "$n"
}

built=()
for h in $HANDLERS; do
	[ -x "$B/$h" ] && built+=("$h")
done
is_built() {
	local h
	for h in "${built[@]}"; do [ "$h" = "$1" ] && return 0; done
	return 1
}

# --- programs -------------------------------------------------------------
install -d -m 0755 "$DESTDIR$LIBEXECDIR" "$DESTDIR$PREFIX/sbin"
for h in "${built[@]}"; do
	if [ "$h" = sealctl ]; then
		install -m 0755 "$B/sealctl" "$DESTDIR$PREFIX/sbin/sealctl"
		say "$PREFIX/sbin/sealctl"
	else
		install -m 0755 "$B/$h" "$DESTDIR$LIBEXECDIR/$h"
		say "$LIBEXECDIR/$h"
	fi
done

# --- systemd units --------------------------------------------------------
# The files in units/ carry the PREFIX=/usr and /etc paths; rewrite them for
# this PREFIX and SYSCONFDIR. A configuration outside /etc/sealmail is passed
# with -c, because the handlers' built-in default is /etc/sealmail/sealmail.conf.
sed_args=(-e "s|/usr/libexec/sealmail|$LIBEXECDIR|g"
	-e "s|/usr/share/doc/sealmail|$DOCDIR|g"
	-e "s|/etc/sealmail/|$SYSCONFDIR/sealmail/|g")
if [ "$SYSCONFDIR" != /etc ]; then
	sed_args+=(-e "s|^\\(ExecStart=$LIBEXECDIR/[a-z0-9]*\\)|\\1 -c $SYSCONFDIR/sealmail/sealmail.conf|")
fi
install -d -m 0755 "$DESTDIR$UNITDIR"
nunits=0
skipped=()
for f in "$U"/sealmail-*.socket "$U"/sealmail-*.service "$U"/sealmail.target; do
	n=$(basename "$f")
	if [ "$n" != sealmail.target ] && ! is_built "$(unit_handler "$n")"; then
		skipped+=("$n")
		continue
	fi
	sed "${sed_args[@]}" "$f" >"$DESTDIR$UNITDIR/$n.tmp"
	chmod 0644 "$DESTDIR$UNITDIR/$n.tmp"
	mv "$DESTDIR$UNITDIR/$n.tmp" "$DESTDIR$UNITDIR/$n"
	nunits=$((nunits + 1))
done
say "$UNITDIR: $nunits units"
[ ${#skipped[@]} -eq 0 ] || echo "  (not built, units not installed: ${skipped[*]})"

install -d -m 0755 "$DESTDIR$SYSUSERSDIR" "$DESTDIR$TMPFILESDIR"
install -m 0644 "$U/sealmail.sysusers" "$DESTDIR$SYSUSERSDIR/sealmail.conf"
say "$SYSUSERSDIR/sealmail.conf"
install -m 0644 "$U/sealmail.tmpfiles" "$DESTDIR$TMPFILESDIR/sealmail.conf"
say "$TMPFILESDIR/sealmail.conf"

# --- configuration: never overwrite the admin's ----------------------------
install -d -m 0755 "$DESTDIR$SYSCONFDIR/sealmail"
if [ -e "$DESTDIR$SYSCONFDIR/sealmail/sealmail.conf" ]; then
	install -m 0644 etc/sealmail.conf "$DESTDIR$SYSCONFDIR/sealmail/sealmail.conf.default"
	say "$SYSCONFDIR/sealmail/sealmail.conf.default (sealmail.conf exists, kept)"
else
	install -m 0644 etc/sealmail.conf "$DESTDIR$SYSCONFDIR/sealmail/sealmail.conf"
	say "$SYSCONFDIR/sealmail/sealmail.conf"
fi

# --- fail2ban filter (jails: docs/INSTALL.md) ------------------------------
# fail2ban reads filter.d/ whether or not it is installed yet; a jail is
# what turns it on, so installing the filter alone bans nobody.
install -d -m 0755 "$DESTDIR$SYSCONFDIR/fail2ban/filter.d"
install -m 0644 etc/fail2ban/filter.d/sealmail.conf "$DESTDIR$SYSCONFDIR/fail2ban/filter.d/sealmail.conf"
say "$SYSCONFDIR/fail2ban/filter.d/sealmail.conf"

# --- documentation and man pages ------------------------------------------
install -d -m 0755 "$DESTDIR$DOCDIR"
for d in docs/*.md; do
	[ -e "$d" ] && install -m 0644 "$d" "$DESTDIR$DOCDIR/"
done
say "$DOCDIR"
for m in docs/*.[1-8]; do
	[ -e "$m" ] || continue
	sec=${m##*.}
	install -d -m 0755 "$DESTDIR$MANDIR/man$sec"
	install -m 0644 "$m" "$DESTDIR$MANDIR/man$sec/"
	say "$MANDIR/man$sec/$(basename "$m")"
done

if [ -z "$DESTDIR" ]; then
	cat <<EOF

Next steps (docs/INSTALL.md): systemd-sysusers; systemd-tmpfiles --create;
systemctl daemon-reload; put the certificate in $SYSCONFDIR/sealmail/tls.crt and
tls.key; sealctl init; sealctl domain add ...; systemctl enable --now sealmail.target
EOF
fi
