#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# `make run`: the development instance of INTERFACES.md, on loopback only.
# State, config, certificate and logs live in ./run/. Every handler that is
# built is started under systemd-socket-activate exactly as inetd/systemd
# would start it; a private redis-server carries notifications. Ctrl-C stops
# everything. SEALMAIL_PORT_BASE=N moves every port to N + standard port
# (smtpd at N + 525); default N = 2000.
set -euo pipefail
B=${B:-build}
TOP=$(pwd)
RUN=$TOP/run
BASE=${SEALMAIL_PORT_BASE:-2000}
mkdir -p "$RUN/tls" "$RUN/logs"
chmod 700 "$RUN"
CONF=$RUN/sealmail.conf
if [ ! -f "$RUN/tls/cert.pem" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
		-subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$RUN/tls/key.pem" -out "$RUN/tls/cert.pem" 2>/dev/null
fi
cat >"$CONF" <<CONF
# Development instance written by \`make run\`; edit etc/sealmail.conf for production.
hostname = localhost
state_dir = $RUN/state
run_dir = $RUN/rundir
redis = unix:$RUN/redis.sock
redis_password = $RUN/redis-password
tls_cert = $RUN/tls/cert.pem
tls_key = $RUN/tls/key.pem
# Outbound mail goes to the sink below (or to SEALMAIL_RELAY), never by MX.
relayhost = ${SEALMAIL_RELAY:-127.0.0.1:$((BASE + 1025))}
CONF
mkdir -p "$RUN/rundir"
export SEALMAIL_CONF=$CONF LOG_TARGET=stderr
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "sealmail: stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# Redis as docs/INSTALL.md sets it up: a unix socket only, the default user
# off, user sealmail allowed PUBLISH/SUBSCRIBE on sealmail:* channels only.
# The ACL file holds the password's SHA-256, never the password.
if [ ! -s "$RUN/redis-password" ]; then
	(umask 077 && openssl rand -hex 32 >"$RUN/redis-password")
fi
pwhash=$(tr -d '\n' <"$RUN/redis-password" | sha256sum | cut -d' ' -f1)
cat >"$RUN/redis-users.acl" <<ACL
user default off resetchannels resetkeys -@all
user sealmail on #$pwhash resetchannels &sealmail:* resetkeys ~sealmail:* -@all +publish +subscribe +unsubscribe +ping +eval +evalsha +del +time +hmget +hget +hset +hincrby +pexpire
ACL
redis-server --port 0 --unixsocket "$RUN/redis.sock" --unixsocketperm 770 \
	--aclfile "$RUN/redis-users.acl" --save '' \
	--appendonly no --dir "$RUN" >"$RUN/logs/redis.log" 2>&1 &
pids+=($!)

"$B/sealctl" init >/dev/null
"$B/sealctl" domain list | grep -qx example.test || "$B/sealctl" domain add example.test
if ! "$B/sealctl" user list | grep -q '^demo@example.test '; then
	pw=$("$B/sealctl" user add demo@example.test | sed -n 's/^password: //p')
	umask 077
	printf '%s\n' "$pw" >"$RUN/demo-password"
fi
PW=$(cat "$RUN/demo-password")

start() { # name listen [args...]
	local name=$1 listen=$2
	shift 2
	[ -x "$B/$name" ] || return 0
	systemd-socket-activate --inetd -a -l "$listen" -E SEALMAIL_CONF -E LOG_TARGET \
		"$TOP/$B/$name" "$@" >>"$RUN/logs/$name.log" 2>&1 &
	pids+=($!)
	started+=("$name $listen $*")
}
started=()
start smtpd 127.0.0.1:$((BASE + 525))
rm -f "$RUN/rundir/lmtp"
start lmtpd "$RUN/rundir/lmtp"
start submitd 127.0.0.1:$((BASE + 587))
start submitd 127.0.0.1:$((BASE + 465)) --tls
start imapd 127.0.0.1:$((BASE + 143))
start imapd 127.0.0.1:$((BASE + 993)) --tls
start pop3d 127.0.0.1:$((BASE + 110))
start pop3d 127.0.0.1:$((BASE + 995)) --tls
# queued delivers the outbound queue to relayhost: unless SEALMAIL_RELAY names
# a real relay, a sink that prints every message it takes (Python's smtpd
# DebuggingServer, Debian 12's python3.11) and delivers nothing.
if [ -x "$B/queued" ]; then
	if [ -z "${SEALMAIL_RELAY:-}" ]; then
		python3 -W ignore -m smtpd -n -c DebuggingServer 127.0.0.1:$((BASE + 1025)) &
		pids+=($!)
		started+=("smtp sink 127.0.0.1:$((BASE + 1025)) (outbound mail is printed here)")
	fi
	"$TOP/$B/queued" >>"$RUN/logs/queued.log" 2>&1 &
	pids+=($!)
	started+=("queued -> ${SEALMAIL_RELAY:-the sink}")
fi

cat <<INFO

sealmail development instance (loopback only; state in $RUN)
  user:      demo@example.test
  password:  $PW
  cert:      $RUN/tls/cert.pem (self-signed)
INFO
for s in "${started[@]}"; do echo "  listening: $s"; done
cat <<INFO

  incoming mail (MX):   swaks --server 127.0.0.1:$((BASE + 525)) --to demo@example.test
  LMTP:                 swaks --protocol LMTP --socket $RUN/rundir/lmtp --to demo@example.test
  IMAP:                 127.0.0.1:$((BASE + 143)) STARTTLS, 127.0.0.1:$((BASE + 993)) TLS
  POP3:                 127.0.0.1:$((BASE + 110)) STLS, 127.0.0.1:$((BASE + 995)) TLS
$([ -x "$B/submitd" ] && echo "  submission:           127.0.0.1:$((BASE + 587)) STARTTLS, 127.0.0.1:$((BASE + 465)) TLS")
$([ -x "$B/submitd" ] && cat <<SUBMIT
    client settings:    server 127.0.0.1, port $((BASE + 465)) SSL/TLS (or $((BASE + 587)) STARTTLS),
                        user demo@example.test, password as above, normal password (PLAIN/LOGIN);
                        accept the self-signed certificate
    send:               swaks --server 127.0.0.1:$((BASE + 587)) --auth PLAIN --auth-user demo@example.test \\
                          --auth-password '$PW' --from demo@example.test --to demo@example.test
    (mail to other domains is sealed into $RUN/state/queue/active, then queued hands it
     to ${SEALMAIL_RELAY:-the sink, which prints it here}; nothing goes out by MX)
SUBMIT
)
  admin:                SEALMAIL_CONF=$CONF $B/sealctl user list
  outbound queue:       SEALMAIL_CONF=$CONF $B/sealctl queue list
  logs:                 $RUN/logs/
  redis:                redis-cli -s $RUN/redis.sock --user sealmail --askpass (password in $RUN/redis-password)
(handlers not built yet are skipped; Ctrl-C stops everything)
INFO
wait
