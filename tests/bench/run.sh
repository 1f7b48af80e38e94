#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# `make bench`: sealmail's handlers measured next to chasquid and Dovecot in
# the same run, interleaved, with the team's anchor method
# (shared/bench-anchors, docs/BENCHMARKS.md):
#   ingest  smtp-source, one message per connection, null sender, durable
#           delivered messages/s into smtpd (exec per connection and
#           accept+fork), lmtpd, chasquid (fsync'ing maildir MDA), Dovecot LMTP
#   login   IMAP LOGIN+LOGOUT/s (plain, TLS; c1, c8) for imapd with three KDF
#           costs, Dovecot {PLAIN} and {ARGON2ID}
#   steps   the back process's login steps (KDF, unwrap, open) and the import
#           rate of 10 KB messages (storebench; spool files from smtpd)
#   mem     RSS/PSS per idle IMAP connection (logged in, IDLE)
#   fetch   UID FETCH of headers and SEARCH on a filled mailbox (if the
#           tests/tools/mboxfill helper exists)
#   profile where smtpd's CPU goes at 1 KB c10 (perf, when installed)
# Everything listens on 127.0.0.1 and private ports (BENCH_PORT_BASE, default
# 14000), with private configs in a temp dir; every server is stopped at the
# end. Environment:
#   B              build dir (default build)
#   BENCH_QUICK=1  smoke run: one repetition, small counts, short runs
#   BENCH_REPS     repetitions (default 3; 1 with BENCH_QUICK)
#   BENCH_ONLY     subset, e.g. "ingest login" (default: all six)
#   BENCH_OUT      result dir (default $B/bench/<date>); raw.txt, summary.md, logs
#   BENCH_CACHE    where the postfix .deb is unpacked (default /var/cache/sealmail/bench)
#   BENCH_FILL     messages for the fetch benchmark (default 10000; quick 1000)
#   BENCH_INGEST   ingest runs as SIZE:CONC:N ..., e.g. "1024:10:3000"
#   BENCH_KEEP=1   keep the scratch dir
# Peers need Debian packages: dovecot-core dovecot-imapd dovecot-lmtpd
# dovecot-pop3d chasquid, and postfix's smtp-source (apt-get download postfix
# + dpkg -x, never installed as a service). As root they are installed here;
# otherwise the command is printed and the missing parts are skipped.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP" || exit 1
B=$(cd "${B:-build}" && pwd)
HERE=$TOP/tests/bench
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then REPS=${BENCH_REPS:-1}; else REPS=${BENCH_REPS:-3}; fi
ONLY=${BENCH_ONLY:-ingest login steps mem fetch profile}
BASE=${BENCH_PORT_BASE:-14000}
CACHE=${BENCH_CACHE:-/var/cache/sealmail/bench}
OUT=${BENCH_OUT:-$B/bench/$(date +%Y%m%d-%H%M%S)}
PY=${PYTHON:-/usr/bin/python3}
PW=benchpass
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RAW=$OUT/raw.txt
: >"$RAW"
T_START=$(date +%s)

if [ "$QUICK" = 1 ]; then
	NUSERS=8 LOGIN_SECS=1.5 IDLE_N=8 N_IMPORT=100 FILL=${BENCH_FILL:-1000} STORE_N=200
	INGEST_CFGS="1024:1:60 1024:10:200 1024:50:200 102400:1:30 102400:10:60 102400:50:60"
else
	NUSERS=50 LOGIN_SECS=4 IDLE_N=50 N_IMPORT=1000 FILL=${BENCH_FILL:-10000} STORE_N=1000
	INGEST_CFGS="1024:1:300 1024:10:800 1024:50:800 102400:1:150 102400:10:250 102400:50:250"
fi
INGEST_CFGS=${BENCH_INGEST:-$INGEST_CFGS}

# Ports: ours, then the peers.
P_SMTPD_INETD=$((BASE + 1)) P_SMTPD_FORK=$((BASE + 2)) P_LMTPD=$((BASE + 3))
P_IMAP_FORK=$((BASE + 143)) P_IMAPS_FORK=$((BASE + 993))
P_IMAP_INETD=$((BASE + 144)) P_IMAPS_INETD=$((BASE + 994))
P_DC_LMTP=$((BASE + 24)) P_DC_IMAP=$((BASE + 1143)) P_DC_IMAPS=$((BASE + 1993))
P_DC_POP3=$((BASE + 1110)) P_CQ_SMTP=$((BASE + 25)) P_CQ_SUB=$((BASE + 587))
ALL_PORTS="$P_SMTPD_INETD $P_SMTPD_FORK $P_LMTPD $P_IMAP_FORK $P_IMAPS_FORK $P_IMAP_INETD
$P_IMAPS_INETD $P_DC_LMTP $P_DC_IMAP $P_DC_IMAPS $P_DC_POP3 $P_CQ_SMTP $P_CQ_SUB"

say() { echo "bench: $*" >&2; }
rec() { echo "$* load1=$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW"; }
# want SECTION: true if the section is selected; also closes the timing of
# the previous selected section.
want() {
	if [ -n "${SECTION:-}" ]; then
		rec "bench=section name=$SECTION secs=$(($(date +%s) - SECTION_T0))"
		SECTION=""
	fi
	case " $ONLY " in *" $1 "*) ;; *) return 1 ;; esac
	SECTION=$1 SECTION_T0=$(date +%s)
	return 0
}
now() { date +%s.%N; }
tree_cpu() { "$PY" "$HERE/proctree.py" cpu "$1"; }

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
for p in $ALL_PORTS; do
	if listening "$p"; then
		say "port $p is in use; choose other ports with BENCH_PORT_BASE=N"
		exit 1
	fi
done

# ---- Peer packages and smtp-source -------------------------------------------------------
PEER_PKGS="dovecot-core dovecot-imapd dovecot-lmtpd dovecot-pop3d chasquid"
missing=""
for p in $PEER_PKGS; do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$s" = installed ] || missing="$missing $p"
done
POLICY_TMP=0
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ]; then
		say "installing peer packages:$missing"
		# Install without starting the distribution's services: the benchmark
		# runs private instances (invoke-rc.d's documented policy hook).
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod 755 /usr/sbin/policy-rc.d
			POLICY_TMP=1
		fi
		apt-get update -qq || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
			>"$OUT/apt.log" 2>&1 || say "apt-get install failed, see $OUT/apt.log"
		[ "$POLICY_TMP" = 1 ] && rm -f /usr/sbin/policy-rc.d
	else
		say "peers missing; as root run: apt-get install --no-install-recommends$missing"
	fi
fi
PFX=$CACHE/pfx
SMTP_SOURCE=$PFX/usr/sbin/smtp-source
if [ ! -x "$SMTP_SOURCE" ]; then
	if mkdir -p "$CACHE" 2>/dev/null && (cd "$CACHE" && apt-get download postfix >"$OUT/postfix-download.log" 2>&1); then
		dpkg -x "$(ls -t "$CACHE"/postfix_*.deb | head -1)" "$PFX"
	else
		say "cannot fetch postfix for smtp-source; run: cd $CACHE && apt-get download postfix && dpkg -x postfix_*.deb pfx"
	fi
fi
have_smtp_source() { [ -x "$SMTP_SOURCE" ]; }
have_dovecot() { command -v dovecot >/dev/null && command -v doveadm >/dev/null; }
have_chasquid() { command -v chasquid >/dev/null && command -v chasquid-util >/dev/null; }

# ---- Scratch dir, servers and cleanup ----------------------------------------------------
S=$(mktemp -d /tmp/sealmail-bench.XXXXXX)
# Dovecot's unprivileged processes must be able to traverse into its dir.
chmod 755 "$S"
PIDS=()
DOVECOT_CONF=""
cleanup() {
	[ -n "$DOVECOT_CONF" ] && doveadm -c "$DOVECOT_CONF" stop >/dev/null 2>&1
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ "$POLICY_TMP" = 1 ] && rm -f /usr/sbin/policy-rc.d
	if [ "${BENCH_KEEP:-0}" = 1 ]; then say "scratch kept in $S"; else rm -rf "$S"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
	for _ in $(seq 200); do listening "$1" && return 0; sleep 0.05; done
	say "nothing listens on $1"
	return 1
}

# Private copies of the programs, so that a rebuild in $B during the run
# cannot swap binaries under the servers; and the libc-only MDA for chasquid.
BIN=$S/bin
mkdir -p "$BIN/tests"
for f in smtpd lmtpd imapd sealctl; do cp "$B/$f" "$BIN/" || exit 1; done
for f in benchimaplogin benchlogin benchpwhash storebench mboxfill; do
	[ -x "$B/tests/$f" ] && cp "$B/tests/$f" "$BIN/tests/"
done
cc -O2 -Wall -Wextra -o "$BIN/mda" "$HERE/mda.c" || exit 1

CERT=$S/cert.pem KEY=$S/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
	-days 30 -keyout "$KEY" -out "$CERT" 2>/dev/null

# sealmail: one state dir, users created under three KDF settings (the
# parameters are stored per user); the server config keeps the default KDF.
SM=$S/sealmail
mkdir -p "$SM/run" "$OUT/logs"
chmod 700 "$SM"
redis-server --port 0 --unixsocket "$SM/redis.sock" --unixsocketperm 700 --save '' \
	--appendonly no --dir "$SM" >"$OUT/logs/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
cat >"$SM/sealmail.conf" <<EOF
hostname = mx.perf.test
state_dir = $SM/state
run_dir = $SM/run
tls_cert = $CERT
tls_key = $KEY
redis = unix:$SM/redis.sock
auth_fail_delay = 0
# Every bench client comes from 127.0.0.1: no per-source limit.
max_connections_per_source = 0
EOF
{ cat "$SM/sealmail.conf"; printf 'kdf_memlimit = 64k\nkdf_opslimit = 1\n'; } >"$SM/kdf-none.conf"
{ cat "$SM/sealmail.conf"; printf 'kdf_memlimit = 19456k\nkdf_opslimit = 2\n'; } >"$SM/kdf-19m.conf"
export LOG_TARGET=stderr
export SEALMAIL_CONF=$SM/sealmail.conf
sealctl() { "$BIN/sealctl" "$@"; }
sealctl init >/dev/null && sealctl domain add perf.test >/dev/null || { say "sealctl init failed"; exit 1; }
adduser() { # conf address
	echo "$PW" | SEALMAIL_CONF=$1 "$BIN/sealctl" user add "$2" --password-stdin >/dev/null ||
		say "user add $2 failed"
}
say "creating users ($NUSERS per KDF group)"
for u in bench imp big; do adduser "$SM/kdf-none.conf" "$u@perf.test"; done
for i in $(seq "$NUSERS"); do
	adduser "$SM/kdf-none.conf" "n$i@perf.test"
	adduser "$SM/kdf-19m.conf" "o$i@perf.test"
	adduser "$SM/sealmail.conf" "d$i@perf.test"
done
user_dir() { echo "$SM/state/users/$(sealctl user list | awk -v a="$1" '$1 == a { sub("id=", "", $2); print $2 }')"; }
BENCH_SPOOL=$(user_dir bench@perf.test)/spool/new
IMP_SPOOL=$(user_dir imp@perf.test)/spool/new

ssa() { # log listen-args... -- prog args (accept+fork when no --inetd)
	local log=$1
	shift
	systemd-socket-activate "$@" >/dev/null 2>>"$OUT/logs/$log.log" &
	PIDS+=($!)
	LAST_PID=$!
}
ssa smtpd-inetd --inetd -a -l "127.0.0.1:$P_SMTPD_INETD" -E SEALMAIL_CONF -E LOG_TARGET "$BIN/smtpd"
PID_SMTPD_INETD=$LAST_PID
ssa smtpd-fork -l "127.0.0.1:$P_SMTPD_FORK" -E SEALMAIL_CONF -E LOG_TARGET "$BIN/smtpd"
PID_SMTPD_FORK=$LAST_PID
ssa lmtpd-fork -l "127.0.0.1:$P_LMTPD" -E SEALMAIL_CONF -E LOG_TARGET "$BIN/lmtpd"
PID_LMTPD=$LAST_PID
ssa imapd-fork -l "127.0.0.1:$P_IMAP_FORK" -l "127.0.0.1:$P_IMAPS_FORK" --fdname=imap:imaps \
	-E SEALMAIL_CONF -E LOG_TARGET "$BIN/imapd"
PID_IMAP_FORK=$LAST_PID
ssa imapd-inetd --inetd -a -l "127.0.0.1:$P_IMAP_INETD" -E SEALMAIL_CONF -E LOG_TARGET "$BIN/imapd"
PID_IMAP_INETD=$LAST_PID
ssa imapd-inetd-tls --inetd -a -l "127.0.0.1:$P_IMAPS_INETD" -E SEALMAIL_CONF -E LOG_TARGET \
	"$BIN/imapd" --tls
PID_IMAPS_INETD=$LAST_PID
for p in $P_SMTPD_INETD $P_SMTPD_FORK $P_LMTPD $P_IMAP_FORK $P_IMAPS_FORK $P_IMAP_INETD $P_IMAPS_INETD; do
	wait_port "$p" || exit 1
done

# Dovecot: the anchors' configuration on private ports; users p* {PLAIN},
# a* {ARGON2ID} as doveadm makes it (Dovecot's default cost), m* {ARGON2ID}
# with sealmail's 19 MiB t=2.
PID_DOVECOT=""
if have_dovecot && [ "$(id -u)" != 0 ]; then
	say "Dovecot needs root (it drops privileges itself); skipped"
elif have_dovecot; then
	D=$S/dovecot
	mkdir -p "$D/run" "$D/state" "$D/log" "$D/mail"
	chown nobody:nogroup "$D/mail"
	cp "$CERT" "$D/cert.pem"
	cp "$KEY" "$D/key.pem"
	sed -e "s#@D@#$D#g" -e "s#@P_IMAP@#$P_DC_IMAP#" -e "s#@P_IMAPS@#$P_DC_IMAPS#" \
		-e "s#@P_POP3@#$P_DC_POP3#" -e "s#@P_LMTP@#$P_DC_LMTP#" \
		"$HERE/dovecot.conf.in" >"$D/dovecot.conf"
	A=$(doveadm -c "$D/dovecot.conf" pw -s ARGON2ID -p "$PW")
	M="{ARGON2ID}$(echo "$PW" | "$BIN/tests/benchpwhash" 2 19456)"
	: >"$D/passwd"
	for i in $(seq "$NUSERS"); do
		printf 'p%s:{PLAIN}%s\na%s:%s\nm%s:%s\n' "$i" "$PW" "$i" "$A" "$i" "$M" >>"$D/passwd"
	done
	DC_ARGON_DEFAULT=$(echo "$A" | sed -n 's/.*\$m=\([0-9]*\),t=\([0-9]*\),.*/m=\1KiB t=\2/p')
	if dovecot -c "$D/dovecot.conf"; then
		DOVECOT_CONF=$D/dovecot.conf
		for p in $P_DC_LMTP $P_DC_IMAP $P_DC_IMAPS; do wait_port "$p"; done
		PID_DOVECOT=$(cat "$D/run/master.pid")
	else
		say "dovecot did not start"
	fi
fi

# chasquid: the anchors' configuration (null sender: no SPF lookups), its
# MDA the fsync'ing maildir writer built above.
PID_CHASQUID=""
if have_chasquid; then
	C=$S/chasquid
	mkdir -p "$C/certs/mx.perf.test" "$C/domains/perf.test" "$C/data" "$S/chasquid-mail"
	cp "$CERT" "$C/certs/mx.perf.test/fullchain.pem"
	cp "$KEY" "$C/certs/mx.perf.test/privkey.pem"
	cat >"$C/chasquid.conf" <<EOF
hostname: "mx.perf.test"
smtp_address: "127.0.0.1:$P_CQ_SMTP"
submission_address: "127.0.0.1:$P_CQ_SUB"
mail_delivery_agent_bin: "$BIN/mda"
mail_delivery_agent_args: "$S/chasquid-mail"
mail_delivery_agent_args: "%to_user%"
data_dir: "$C/data"
mail_log_path: "$C/mail.log"
EOF
	chasquid-util -C="$C" user-add bench@perf.test --password="$PW" >/dev/null
	chasquid -config_dir="$C" >>"$OUT/logs/chasquid.log" 2>&1 &
	PIDS+=($!)
	if wait_port "$P_CQ_SMTP"; then PID_CHASQUID=${PIDS[-1]}; else say "chasquid did not start"; fi
fi

# ---- Header: machine, load, versions ---------------------------------------------------
ver() { "$@" 2>&1 | head -1; }
{
	echo "## make bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "- mode: $([ "$QUICK" = 1 ] && echo "BENCH_QUICK=1 (smoke run)" || echo full), $REPS repetition(s), servers interleaved"
	echo "- machine: $(nproc) vCPU $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
	echo "- load at start: $(cut -d' ' -f1-3 /proc/loadavg); busiest other processes: $(ps -eo pcpu=,comm= --sort=-pcpu | head -4 | awk '{printf "%s %s%%; ", $2, $1}')"
	echo "- sealmail $(git -C "$TOP" describe --always --dirty 2>/dev/null || echo unknown) ($B); $(ver openssl version); SQLCipher $(dpkg-query -W -f='${Version}' libsqlcipher0 2>/dev/null); libsodium $(dpkg-query -W -f='${Version}' libsodium23 2>/dev/null); $(ver redis-server --version | cut -d' ' -f1-3)"
	echo "- peers: Dovecot $(have_dovecot && ver dovecot --version || echo absent), chasquid $(have_chasquid && dpkg-query -W -f='${Version}' chasquid || echo absent), smtp-source from postfix $(ls "$CACHE"/postfix_*.deb 2>/dev/null | sed -n 's/.*postfix_\(.*\)_amd64.deb/\1/p' | head -1)"
	echo "- sealmail KDFs: none = 64 KiB t=1, 19m = 19 MiB t=2 (the anchors'), default = 32 MiB t=2; Dovecot {ARGON2ID}: default = ${DC_ARGON_DEFAULT:-?} (doveadm pw), 19m = 19 MiB t=2"
	echo
} >"$OUT/header.md"
cat "$OUT/header.md" >&2

# ---- 1. Ingest -----------------------------------------------------------------------------
count_files() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }
ingest() { # label port size conc n dir root_pid [smtp-source flags]
	local label=$1 port=$2 size=$3 conc=$4 n=$5 dir=$6 root=$7
	shift 7
	sync
	local c0 t0 t1 t2 c1 got
	c0=$(tree_cpu "$root")
	t0=$(now)
	LD_LIBRARY_PATH=$PFX/usr/lib/postfix timeout 600 "$SMTP_SOURCE" "$@" -s "$conc" -m "$n" \
		-l "$size" -f '' -t bench@perf.test -M client.test "127.0.0.1:$port" \
		>>"$OUT/logs/smtp-source.log" 2>&1 || say "smtp-source $label rc=$?"
	t1=$(now)
	for _ in $(seq 1200); do
		[ "$(count_files "$dir")" -ge "$n" ] && break
		sleep 0.05
	done
	t2=$(now)
	got=$(count_files "$dir")
	c1=$(tree_cpu "$root")
	awk -v l="$label" -v s="$size" -v k="$conc" -v n="$n" -v g="$got" -v a="$t0" -v b="$t1" \
		-v c="$t2" -v r="$REP" -v cpu="$(awk -v a="$c1" -v b="$c0" 'BEGIN { print a - b }')" 'BEGIN {
		printf "bench=ingest server=%s size=%d conc=%d rep=%d n=%d delivered=%d ok=%d rate=%.1f accept_rate=%.1f cpu_ms_per_msg=%.3f secs=%.2f",
			l, s, k, r, n, g, (g >= n), g / (c - a), n / (b - a), g ? cpu * 1000 / g : 0, c - a }' | { read -r line; rec "$line"; }
	[ "$got" -ge "$n" ] || rec "bench=error what=ingest server=$label size=$size conc=$conc delivered=$got n=$n"
}
# Between ingest runs the delivered files are moved aside, not deleted, and
# removed with the scratch directory at the end. On an ext4 without a journal
# (this host's) inode allocation skips every inode deleted in the last ~30 s,
# reading the inode table for each: deleting a run's files just before the
# next run into the same directory made that run pay for the cleanup (half
# the rate right after 5,000 deletions). Moving keeps every server's runs free
# of it alike.
TRASH_N=0
set_aside() { # set_aside DIR [files]: move DIR (or, with "files", its files) away
	[ -e "$1" ] || return 0
	TRASH_N=$((TRASH_N + 1))
	mkdir -p "$S/trash"
	if [ "${2:-}" = files ]; then
		mkdir -p "$S/trash/$TRASH_N"
		find "$1" -maxdepth 1 -type f -exec mv -t "$S/trash/$TRASH_N" {} +
	else
		mv "$1" "$S/trash/$TRASH_N"
	fi
}
ingest_one() { # server size conc n
	local srv=$1 size=$2 conc=$3 n=$4
	case $srv in
	smtpd-fork)
		set_aside "$BENCH_SPOOL" files
		ingest "$srv" "$P_SMTPD_FORK" "$size" "$conc" "$n" "$BENCH_SPOOL" "$PID_SMTPD_FORK" ;;
	smtpd-inetd)
		set_aside "$BENCH_SPOOL" files
		ingest "$srv" "$P_SMTPD_INETD" "$size" "$conc" "$n" "$BENCH_SPOOL" "$PID_SMTPD_INETD" ;;
	lmtpd-fork)
		set_aside "$BENCH_SPOOL" files
		ingest "$srv" "$P_LMTPD" "$size" "$conc" "$n" "$BENCH_SPOOL" "$PID_LMTPD" -L ;;
	chasquid)
		[ -n "$PID_CHASQUID" ] || return 0
		set_aside "$S/chasquid-mail/bench"
		ingest "$srv" "$P_CQ_SMTP" "$size" "$conc" "$n" "$S/chasquid-mail/bench/new" "$PID_CHASQUID" ;;
	dovecot-lmtp)
		[ -n "$PID_DOVECOT" ] || return 0
		set_aside "$D/mail/bench"
		ingest "$srv" "$P_DC_LMTP" "$size" "$conc" "$n" "$D/mail/bench/new" "$PID_DOVECOT" -L ;;
	esac
}
if want ingest && have_smtp_source; then
	say "ingest: $INGEST_CFGS, $REPS rep(s)"
	SERVERS=(smtpd-fork smtpd-inetd lmtpd-fork chasquid dovecot-lmtp)
	for REP in $(seq "$REPS"); do
		for cfg in $INGEST_CFGS; do
			IFS=: read -r size conc n <<<"$cfg"
			# Rotate the order each repetition so no server always runs first.
			for i in $(seq 0 4); do
				ingest_one "${SERVERS[$(((i + REP) % 5))]}" "$size" "$conc" "$n"
			done
		done
		say "ingest rep $REP done ($(($(date +%s) - T_START)) s)"
	done
	set_aside "$BENCH_SPOOL" files
fi

# ---- 2. Logins ---------------------------------------------------------------------------
login_run() { # server scheme port mode conc userfmt nusers root_pid
	local c0 c1 out
	c0=$(tree_cpu "$8")
	out=$("$BIN/tests/benchimaplogin" "$3" "$4" "$5" "$LOGIN_SECS" "$6" "$PW" "$7" 2>>"$OUT/logs/imaplogin.log")
	c1=$(tree_cpu "$8")
	local ok
	ok=$(echo "$out" | sed -n 's/.* ok=\([0-9]*\).*/\1/p')
	rec "bench=login server=$1 scheme=$2 rep=$REP $out cpu_ms_per_login=$(echo "$c1 $c0 ${ok:-0}" | awk '{ printf "%.2f", $3 ? ($1 - $2) * 1000 / $3 : 0 }')"
	[ "${ok:-0}" -gt 0 ] || rec "bench=error what=login server=$1 scheme=$2 mode=$4 conc=$5"
	sleep 0.3
}
if want login; then
	say "login: ${LOGIN_SECS}s runs, $REPS rep(s)"
	for REP in $(seq "$REPS"); do
		for mc in "plain 1" "plain 8" "tls 1" "tls 8"; do
			set -- $mc
			mode=$1 conc=$2
			if [ "$mode" = tls ]; then
				pf=$P_IMAPS_FORK pi=$P_IMAPS_INETD pd=$P_DC_IMAPS ri=$PID_IMAPS_INETD
			else
				pf=$P_IMAP_FORK pi=$P_IMAP_INETD pd=$P_DC_IMAP ri=$PID_IMAP_INETD
			fi
			login_run imapd-fork none "$pf" "$mode" "$conc" 'n%d@perf.test' "$NUSERS" "$PID_IMAP_FORK"
			[ -n "$PID_DOVECOT" ] && login_run dovecot PLAIN "$pd" "$mode" "$conc" 'p%d' "$NUSERS" "$PID_DOVECOT"
			login_run imapd-fork 19m "$pf" "$mode" "$conc" 'o%d@perf.test' "$NUSERS" "$PID_IMAP_FORK"
			[ -n "$PID_DOVECOT" ] && [ "$mode" = tls ] &&
				login_run dovecot ARGON2ID-19m "$pd" "$mode" "$conc" 'm%d' "$NUSERS" "$PID_DOVECOT"
			login_run imapd-fork default "$pf" "$mode" "$conc" 'd%d@perf.test' "$NUSERS" "$PID_IMAP_FORK"
			[ -n "$PID_DOVECOT" ] && [ "$mode$conc" != plain1 ] &&
				login_run dovecot ARGON2ID-default "$pd" "$mode" "$conc" 'a%d' "$NUSERS" "$PID_DOVECOT"
			# exec per connection (inetd / Accept=yes) for the no-KDF case.
			login_run imapd-inetd none "$pi" "$mode" "$conc" 'n%d@perf.test' "$NUSERS" "$ri"
		done
		say "login rep $REP done ($(($(date +%s) - T_START)) s)"
	done
fi

# ---- 3. Login steps, import, store -------------------------------------------------------
if want steps; then
	say "login steps, import, storebench"
	for REP in $(seq "$REPS"); do
		for g in "none n1" "19m o1" "default d1"; do
			set -- $g
			echo "$PW" | "$BIN/tests/benchlogin" "$2@perf.test" 11 2>>"$OUT/logs/benchlogin.log" |
				while read -r kind rest; do rec "bench=loginsteps scheme=$1 kind=$kind rep=$REP $rest"; done
		done
		# Import at login of N 10 KB spool files that smtpd sealed and wrote.
		if have_smtp_source; then
			find "$IMP_SPOOL" -type f -delete
			LD_LIBRARY_PATH=$PFX/usr/lib/postfix timeout 600 "$SMTP_SOURCE" -s 10 -m "$N_IMPORT" \
				-l 10240 -f '' -t imp@perf.test -M client.test "127.0.0.1:$P_SMTPD_FORK" \
				>>"$OUT/logs/smtp-source.log" 2>&1
			for _ in $(seq 600); do [ "$(count_files "$IMP_SPOOL")" -ge "$N_IMPORT" ] && break; sleep 0.05; done
			sync
			echo "$PW" | "$BIN/tests/benchlogin" imp@perf.test 1 2>>"$OUT/logs/benchlogin.log" |
				awk -v r="$REP" '/^cold/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
					printf "bench=import size=10240 rep=%d n=%d open_ms=%s msgs_per_s=%.0f\n", r, v["imported"], v["open_ms"], (v["open_ms"] > 0 ? v["imported"] * 1000 / v["open_ms"] : 0) }' |
				{ read -r line && rec "$line"; }
		fi
		# storebench: append / deliver / import / open on the same disk.
		"$BIN/tests/storebench" "$S/store-$REP" "$STORE_N" 10240 100 2>>"$OUT/logs/storebench.log" |
			awk -v r="$REP" '
			/^append/ { printf "bench=store name=append_1_per_txn_msgs_per_s value=%s rep=%d\n", $(NF-1), r }
			/^deliver/ { printf "bench=store name=spool_deliver_msgs_per_s value=%s rep=%d\n", $(NF-1), r }
			/^import/ { printf "bench=store name=spool_import_msgs_per_s value=%s rep=%d\n", $(NF-1), r }
			/^first-open/ { printf "bench=store name=first_open_ms value=%s rep=%d\n", $2, r }
			/^open / { printf "bench=store name=open_ms value=%s rep=%d\n", $2, r }
			/^open-with-other-session/ { printf "bench=store name=open_with_other_session_ms value=%s rep=%d\n", $2, r }
			/^empty-import/ { printf "bench=store name=empty_import_ms value=%s rep=%d\n", $2, r }' |
			while read -r line; do rec "$line"; done
		rm -rf "$S/store-$REP"
	done
fi

# ---- 4. Memory per idle connection -------------------------------------------------------
if want mem; then
	say "memory per idle IMAP connection ($IDLE_N connections)"
	REP=1
	idle() { "$PY" "$HERE/idlemem.py" "$@" 2>>"$OUT/logs/idlemem.log" | { read -r line && rec "$line"; } || rec "bench=error what=idlemem server=$1 mode=$3"; }
	idle imapd-fork "$P_IMAP_FORK" plain 'n%d@perf.test' "$PW" "$IDLE_N" "$PID_IMAP_FORK" "$REDIS_PID"
	idle imapd-fork "$P_IMAPS_FORK" tls 'n%d@perf.test' "$PW" "$IDLE_N" "$PID_IMAP_FORK" "$REDIS_PID"
	idle imapd-inetd "$P_IMAPS_INETD" tls 'n%d@perf.test' "$PW" "$IDLE_N" "$PID_IMAPS_INETD" "$REDIS_PID"
	if [ -n "$PID_DOVECOT" ]; then
		idle dovecot "$P_DC_IMAP" plain 'p%d' "$PW" "$IDLE_N" "$PID_DOVECOT"
		idle dovecot "$P_DC_IMAPS" tls 'p%d' "$PW" "$IDLE_N" "$PID_DOVECOT"
	fi
fi

# ---- 5. FETCH and SEARCH on a filled mailbox ---------------------------------------------
# The mailbox is filled by tests/tools/mboxfill (realistic generated mail);
# Dovecot gets the same messages, copied out over IMAP into its maildir. Its
# first SELECT builds its index; its SEARCH TEXT reads every message (no FTS
# plugin, Dovecot's default), while imapd has a full-text index.
FETCH_CMDS=("UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])" "UID SEARCH TEXT zanzibarquux")
if want fetch; then
	if [ -x "$BIN/tests/mboxfill" ]; then
		say "fetch/search: filling a mailbox with $FILL messages"
		t0=$(now)
		if echo "$PW" | "$BIN/tests/mboxfill" big@perf.test "$FILL" >>"$OUT/logs/mboxfill.log" 2>&1; then
			rec "bench=fill n=$FILL secs=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')"
			if [ -n "$PID_DOVECOT" ]; then
				echo "big:{PLAIN}$PW" >>"$D/passwd"
				"$PY" "$HERE/tomaildir.py" "$P_IMAP_FORK" big@perf.test "$PW" "$D/mail/big" \
					>>"$OUT/logs/tomaildir.log" 2>&1 || rec "bench=error what=tomaildir"
				chown -R nobody:nogroup "$D/mail/big"
			fi
			for REP in $(seq "$REPS"); do
				BENCH_ROOT_PID=$PID_IMAP_FORK timeout 900 "$PY" "$HERE/imapbench.py" imapd-fork "$P_IMAP_FORK" plain big@perf.test "$PW" \
					"${FETCH_CMDS[@]}" 2>>"$OUT/logs/imapbench.log" |
					while read -r line; do rec "$line rep=$REP"; done
				[ -n "$PID_DOVECOT" ] &&
					BENCH_ROOT_PID=$PID_DOVECOT timeout 900 "$PY" "$HERE/imapbench.py" dovecot "$P_DC_IMAP" plain big "$PW" \
						"${FETCH_CMDS[@]}" 2>>"$OUT/logs/imapbench.log" |
					while read -r line; do rec "$line rep=$REP"; done
			done
		else
			rec "bench=error what=mboxfill"
		fi
	else
		say "fetch/search: no $B/tests/mboxfill yet, not measured"
	fi
fi

# ---- 6. Profile: where smtpd's CPU goes -----------------------------------------------------
if want profile && have_smtp_source && command -v perf >/dev/null; then
	say "profile: perf on smtpd (accept+fork), 1 KB c10"
	REP=1
	n=$([ "$QUICK" = 1 ] && echo 200 || echo 800)
	set_aside "$BENCH_SPOOL" files
	sync
	perf record -q -o "$S/perf.data" -F 999 --call-graph dwarf,16384 -p "$PID_SMTPD_FORK" \
		>/dev/null 2>&1 &
	PERF_PID=$!
	sleep 1
	LD_LIBRARY_PATH=$PFX/usr/lib/postfix timeout 600 "$SMTP_SOURCE" -s 10 -m "$n" -l 1024 -f '' \
		-t bench@perf.test -M client.test "127.0.0.1:$P_SMTPD_FORK" >>"$OUT/logs/smtp-source.log" 2>&1
	kill -INT "$PERF_PID"
	wait "$PERF_PID"
	# Inclusive share of smtpd's samples for the steps of a delivery.
	perf report -i "$S/perf.data" --children --sort sym -g none 2>/dev/null >"$OUT/logs/perf-smtpd.txt"
	for f in __libc_fork spool_deliver_begin ext4_create recently_deleted spool_prepare spool_commit \
		do_fsync deliver_session_begin directory_open directory_resolve sandbox_enter \
		sb_seccomp_load age_seal_begin age_seal_free notify_publish log_event asm_exc_page_fault \
		do_exit tcp_sendmsg; do
		pct=$(awk -v f="$f" '$NF == f { sub("%", "", $1); print $1; exit }' "$OUT/logs/perf-smtpd.txt")
		[ -n "$pct" ] && rec "bench=profile server=smtpd-fork sym=$f pct=$pct"
	done
	find "$BENCH_SPOOL" -type f -delete
fi
want end-of-run

# ---- Summary -------------------------------------------------------------------------------
echo "- load at end: $(cut -d' ' -f1-3 /proc/loadavg); wall time $(($(date +%s) - T_START)) s" >>"$OUT/header.md"
echo >>"$OUT/header.md"
"$PY" "$HERE/summary.py" "$RAW" "$OUT/header.md" | tee "$OUT/summary.md"
say "raw results: $RAW; summary: $OUT/summary.md"
