#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Writes every sealmail-*.socket, sealmail-*.service and sealmail.target in
# this directory from one table, so that the ~30 units share one hardening
# block and cannot drift apart. The generated files are committed (an admin
# reads them, `systemctl cat` shows them whole); edit this script, not them.
#   units/gen-units.sh           rewrite the units in units/
#   units/gen-units.sh --check   exit 1 (and show a diff) if they are stale
# Paths are the PREFIX=/usr ones; units/install.sh rewrites them for other
# prefixes. Unit semantics: systemd.socket(5), systemd.service(5) and
# systemd.exec(5) of systemd 252 (Debian 12).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE
if [ "${1:-}" = --check ]; then
	OUT=$(mktemp -d)
	trap 'rm -rf "$OUT"' EXIT
fi

LIBEXEC=/usr/libexec/sealmail
ETC=/etc/sealmail
DOC=file:/usr/share/doc/sealmail/SECURITY.md

# handler | user | description | listen (plain) | Accept=yes limits (max, per source)
#         | implicit-TLS socket name | TLS listen | default mode (yes|fork)
# Default modes are argued in docs/SECURITY.md ("Default unit modes"). The
# per-source limit is the configuration's max_connections_per_source default
# (50, which the accept loop of Accept=no applies), so both modes agree.
PER_SOURCE=50
HANDLERS=(
	"smtpd|sealmail-mx|MX SMTP on port 25|25|256 $PER_SOURCE|||fork"
	"lmtpd|sealmail-mx|LMTP for the local MTA|/run/sealmail/lmtp|64 -|||fork"
	"submitd|sealmail|submission on port 587 (STARTTLS)|587|256 $PER_SOURCE|submissions|465|fork"
	"imapd|sealmail|IMAP on port 143 (STARTTLS)|143|1024 $PER_SOURCE|imaps|993|fork"
	"pop3d|sealmail|POP3 on port 110 (STLS)|110|256 $PER_SOURCE|pop3s|995|fork"
)

# MemoryMax= values (see resources() below), from measured peaks (resident):
# a login connection 150 MiB at most (front 9, back 140 during an APPEND of
# 49 MB), an SMTP connection 55 MiB (a 48 MB DATA); an idle logged-in
# connection 1.4 MiB of private memory per process, up to two processes.
MEM_CONN_LOGIN=512M
MEM_CONN_MX=256M
MEM_SVC_LOGIN=4G
MEM_SVC_MX=3G

# The hardening every service shares, in both modes. Each line is justified
# in docs/SECURITY.md; `systemd-analyze security` scores it.
hardening() { # hardening USER
	local user=$1 rw creds
	creds="LoadCredential=tls.crt:$ETC/tls.crt
LoadCredential=tls.key:$ETC/tls.key"
	if [ "$user" = sealmail-queue ]; then
		# queued writes only the queue (state files, DSNs); its secret key
		# comes as a credential, which systemd reads as root from where
		# `sealctl init` made it (docs/INSTALL.md: moving it to /etc).
		rw="/var/lib/sealmail/queue"
		creds="LoadCredential=queue.key:/var/lib/sealmail/queue/queue.key"
	elif [ "$user" = sealmail-mx ]; then
		# The MX writes only users/<id>/spool/ (Unix permissions narrow
		# users/ further); directory.db stays read-only even to the kernel.
		rw="/var/lib/sealmail/users"
	else
		# Sessions write mailbox.db and directory.db (password change) and
		# the KDF slot lock files in run_dir.
		rw="/var/lib/sealmail /run/sealmail"
	fi
	cat <<EOF

# --- identity and files ---
# /var/lib/sealmail and /run/sealmail come from tmpfiles.d (sealmail.conf),
# not StateDirectory=/RuntimeDirectory=: those chown the whole tree to this
# unit's User= on start, and two users share it (docs/SECURITY.md).
User=$user
Group=$user
UMask=0077
LimitCORE=0
$creds
ProtectSystem=strict
ReadWritePaths=$rw
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
DevicePolicy=closed

# --- kernel and /proc ---
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
KeyringMode=private

# --- privileges ---
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
RestrictSUIDSGID=yes
RemoveIPC=yes
PrivateUsers=yes
PrivateIPC=yes
PrivateMounts=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictRealtime=yes
RestrictNamespaces=yes

# --- network ---
# Client sockets come from systemd and are not subject to these; what the
# process opens itself is journald (AF_UNIX), Redis and milters. Remote Redis
# or milters need a drop-in with IPAddressAllow= (docs/INSTALL.md).
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
IPAddressDeny=any
IPAddressAllow=localhost

# --- system calls ---
# @system-service lacks seccomp(2) and Landlock in systemd 252; the handlers
# install their own, narrower filters with them (docs/SANDBOX.md).
SystemCallArchitectures=native
SystemCallFilter=@system-service seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self
SystemCallFilter=~@privileged @resources
EOF
}

# Memory and process ceilings of a service (docs/SECURITY.md, "Memory
# limits"): sized from the measured peaks of each process and from the
# default max_connections (1000) and max_message_size (50M); an admin who
# raises those raises these with a drop-in. Inside, each login front and
# back has its own RLIMIT_AS (lib/sys/proclimit.c).
resources() { # resources HANDLER MODE(yes|fork)
	local h=$1 mode=$2 login=no mem tasks
	case $h in imapd | pop3d | submitd) login=yes ;; esac
	printf '\n# --- resources ---\n'
	if [ "$mode" = yes ]; then
		# One connection: a front and a back (login), or one process.
		[ $login = yes ] && mem=$MEM_CONN_LOGIN || mem=$MEM_CONN_MX
		tasks=4
		printf '# One connection: its processes at their measured peak, with room.\n'
	else
		# The accept loop and up to max_connections children (login: a
		# front and a back each). The kernel's OOM killer, should the
		# service reach MemoryMax=, ends one process; the service goes on.
		[ $login = yes ] && mem=$MEM_SVC_LOGIN || mem=$MEM_SVC_MX
		[ $login = yes ] && tasks=2100 || tasks=1100
		printf '# The accept loop and up to max_connections (1000) connections.\n'
	fi
	printf 'MemoryMax=%s\nTasksMax=%s\n' "$mem" "$tasks"
	[ "$mode" = fork ] && printf 'OOMPolicy=continue\n'
	return 0
}

GENERATED='# SPDX-License-Identifier: AGPL-3.0-or-later
# Generated by units/gen-units.sh; edit that script, not this file.'

unit_header() { # unit_header DESCRIPTION
	printf '%s\n' "$GENERATED"
	printf '[Unit]\nDescription=sealmail %s\nDocumentation=%s\n' "$1" "$DOC"
}

is_path() { [ "${1#/}" != "$1" ]; }

# socket FILE DESC LISTEN ACCEPT(yes|no) LIMITS FDNAME SERVICE CONFLICTS...
socket_unit() {
	local file=$1 desc=$2 listen=$3 accept=$4 limits=$5 fdname=$6 service=$7
	shift 7
	{
		unit_header "$desc"
		printf 'PartOf=sealmail.target\n'
		if [ $# -gt 0 ]; then
			# The two modes of a handler share its ports: starting one
			# stops the other. One ordering edge between them (on the
			# Accept=yes side) makes the stop finish before the bind, in
			# either direction (systemd.unit(5), Before=/After=).
			printf 'Conflicts=%s\n' "$*"
			[ "$accept" = yes ] && printf 'After=%s\n' "$*"
		fi
		printf '\n[Socket]\nListenStream=%s\nAccept=%s\n' "$listen" "$accept"
		if is_path "$listen"; then
			# INTERFACES: mode 0660, group sealmail-mx; the MTA's user
			# joins that group (docs/INSTALL.md).
			printf 'SocketUser=root\nSocketGroup=sealmail-mx\nSocketMode=0660\n'
		else
			printf 'KeepAlive=yes\n'
		fi
		if [ "$accept" = yes ]; then
			local max=${limits% *} per=${limits#* }
			printf 'MaxConnections=%s\n' "$max"
			[ "$per" != - ] && printf 'MaxConnectionsPerSource=%s\n' "$per"
			# The default trigger limit (200 connections in 2 s for
			# Accept=yes) would put the socket into the failed state
			# under a connection flood: one flood, no service.
			# MaxConnections= bounds the load instead.
			printf 'TriggerLimitIntervalSec=0\n'
		fi
		[ -n "$fdname" ] && printf 'FileDescriptorName=%s\n' "$fdname"
		[ -n "$service" ] && printf 'Service=%s\n' "$service"
		printf '\n[Install]\nWantedBy=sockets.target\n'
	} >"$OUT/$file"
}

# service FILE DESC USER EXEC MODE(yes|fork) HANDLER [SOCKETS...]
service_unit() {
	local file=$1 desc=$2 user=$3 exec=$4 mode=$5 h=$6
	shift 6
	{
		unit_header "$desc"
		if [ "$mode" = fork ]; then
			printf 'PartOf=sealmail.target\n'
			printf '\n[Service]\n'
			# Listening sockets arrive as fd 3...; the handler accepts and
			# forks one child per connection (no exec), named sockets carry
			# implicit TLS.
			printf 'ExecStart=%s\n' "$exec"
			printf 'Sockets=%s\n' "$*"
			printf 'StandardInput=null\nStandardOutput=journal\nStandardError=journal\n'
		else
			# Failed instances are logged, then unloaded: a flood of
			# broken connections must not pile up units in PID 1.
			printf 'CollectMode=inactive-or-failed\n'
			printf '\n[Service]\n'
			# One instance per connection; the connection is fd 0/1.
			printf 'ExecStart=%s\n' "$exec"
			printf 'StandardInput=socket\nStandardOutput=socket\nStandardError=journal\n'
		fi
		hardening "$user"
		resources "$h" "$mode"
	} >"$OUT/$file"
}

# queued, the outbound delivery daemon (docs/SENDING.md section 3): one
# long-running process, no socket; it forks a child per destination.
queued_unit() {
	{
		unit_header "outbound delivery (queued)"
		printf 'PartOf=sealmail.target\nAfter=network-online.target\nWants=network-online.target\n'
		printf '\n[Service]\nType=notify\nExecStart=%s/queued\n' "$LIBEXEC"
		# WATCHDOG=1 comes at least every 30 s, and every second while
		# deliveries run; a hung loop is restarted.
		printf 'WatchdogSec=60\nRestart=on-failure\nRestartSec=5\n'
		printf 'StandardInput=null\nStandardOutput=journal\nStandardError=journal\n'
		# The queue's files are group sealmail-mx (the enqueuers' group).
		printf 'SupplementaryGroups=sealmail-mx\n'
		hardening sealmail-queue
		# It delivers to the Internet: outbound TCP anywhere (port limits
		# belong to the delivery child's sandbox, docs/SENDING.md section 7).
		printf 'IPAddressAllow=any\n'
		printf '\n# --- resources ---\n'
		printf '# The daemon, the resolver thread and up to queued.max_children (at most\n'
		printf '# 1000) delivery children, each holding one message.\n'
		printf 'MemoryMax=%s\nTasksMax=1100\nOOMPolicy=continue\n' "$MEM_SVC_MX"
		printf '\n[Install]\nWantedBy=sealmail.target\n'
	} >"$OUT/sealmail-queued.service"
}
queued_unit

target_wants=()
for row in "${HANDLERS[@]}"; do
	IFS='|' read -r h user desc listen limits tlsname tlslisten def <<<"$row"
	exe=$LIBEXEC/$h
	fork_sockets=("sealmail-$h-fork.socket")
	[ -n "$tlsname" ] && fork_sockets+=("sealmail-$tlsname-fork.socket")

	# Accept=yes: sealmail-<h>.socket -> sealmail-<h>@<n>.service per connection
	socket_unit "sealmail-$h.socket" "$h socket: $desc, one unit per connection" \
		"$listen" yes "$limits" "" "" "sealmail-$h-fork.socket" "sealmail-$h-fork.service"
	service_unit "sealmail-$h@.service" "$h session %I" "$user" "$exe" yes "$h"

	# Accept=no: sealmail-<h>-fork.socket (+ the TLS one) -> one accept+fork service
	socket_unit "sealmail-$h-fork.socket" "$h socket: $desc, for sealmail-$h-fork.service" \
		"$listen" no "" "$h" "" "sealmail-$h.socket"
	fdesc=$desc
	[ -n "$tlsname" ] && fdesc="$desc and $tlslisten (TLS)"
	service_unit "sealmail-$h-fork.service" "$h: $fdesc, accepting and forking per connection" \
		"$user" "$exe" fork "$h" "${fork_sockets[@]}"

	if [ -n "$tlsname" ]; then
		socket_unit "sealmail-$tlsname.socket" \
			"$h socket: implicit TLS on port $tlslisten, one unit per connection" \
			"$tlslisten" yes "$limits" "" "" \
			"sealmail-$tlsname-fork.socket" "sealmail-$h-fork.service"
		service_unit "sealmail-$tlsname@.service" "$h implicit-TLS session %I" "$user" \
			"$exe --tls" yes "$h"
		# A socket unit has one FileDescriptorName= for all its ListenStream=
		# lines, so the TLS port is its own unit feeding the same service.
		socket_unit "sealmail-$tlsname-fork.socket" \
			"$h socket: implicit TLS on port $tlslisten, for sealmail-$h-fork.service" \
			"$tlslisten" no "" "$tlsname" "sealmail-$h-fork.service" \
			"sealmail-$tlsname.socket"
	fi

	if [ "$def" = fork ]; then
		target_wants+=("${fork_sockets[@]}")
	else
		target_wants+=("sealmail-$h.socket")
		[ -n "$tlsname" ] && target_wants+=("sealmail-$tlsname.socket")
	fi
done

{
	printf '%s\n' "$GENERATED"
	printf '[Unit]\nDescription=sealmail mail server (default socket of every handler)\n'
	printf 'Documentation=%s\n' "$DOC"
	# Units of handlers that are not installed are simply not found; Wants=
	# ignores them.
	for w in "${target_wants[@]}"; do printf 'Wants=%s\n' "$w"; done
	printf 'Wants=sealmail-queued.service\n'

	printf '\n[Install]\nWantedBy=multi-user.target\n'
} >"$OUT/sealmail.target"

if [ "$OUT" != "$HERE" ]; then
	stale=0
	for f in "$OUT"/*; do
		n=$(basename "$f")
		if ! cmp -s "$f" "$HERE/$n"; then
			echo "units/$n is stale (run units/gen-units.sh)"
			diff -u "$HERE/$n" "$f" 2>/dev/null | head -20 || true
			stale=1
		fi
	done
	for f in "$HERE"/sealmail-*.socket "$HERE"/sealmail-*.service "$HERE"/sealmail.target; do
		[ -e "$f" ] || continue
		[ -e "$OUT/$(basename "$f")" ] || { echo "units/$(basename "$f") is not generated"; stale=1; }
	done
	exit $stale
fi
