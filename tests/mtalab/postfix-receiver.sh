#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# A real Postfix as a receiving MTA for tests: its own config, queue and Maildir under DIR,
# listening on ADDR:25 (any 127.0.0.0/8 address), accepting mail for the given domains and
# storing every message in DIR/mail/all/new/ (one Maildir for all recipients; the envelope is in
# the X-Original-To/Delivered-To and Return-Path headers Postfix adds).
#
#   postfix-receiver.sh start DIR ADDR DOMAIN... [-- 'main.cf line' ...]
#   postfix-receiver.sh stop DIR
#
# Lines after `--` are added to main.cf (postconf -e syntax), e.g.
#   'smtpd_milters = inet:127.0.0.1:8891'  (OpenDKIM in verify mode)
#   'smtpd_tls_cert_file = ...' 'smtpd_tls_key_file = ...' 'smtpd_tls_security_level = may'
#   'smtpd_recipient_restrictions = check_recipient_access static:{451 4.7.1 try again later}'  (temporary failures; a bare static:451 is not a refusal)
# Needs Debian's postfix package installed (as "No configuration"; it never has to run as the
# system's MTA). Run as root. The log is DIR/maillog.
set -eu
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '8,9p' "$0" >&2; exit 2; }
case "$cmd" in
stop)
	postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
	d=$(cd "$dir" 2>/dev/null && pwd) || exit 0
	cur=$(postconf -h alternate_config_directories 2>/dev/null || true)
	new=$(for c in $cur; do [ "$c" = "$d/etc" ] || printf '%s ' "$c"; done)
	postconf -e "alternate_config_directories = ${new% }"
	exit 0 ;;
start) ;;
*) echo "postfix-receiver: unknown command $cmd" >&2; exit 2 ;;
esac
addr=$3; shift 3
domains=() extra=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do domains+=("$1"); shift; done
[ $# -gt 0 ] && { shift; extra=("$@"); }
[ ${#domains[@]} -gt 0 ] || { echo "postfix-receiver: no domain given" >&2; exit 2; }
command -v postfix >/dev/null || { echo "postfix-receiver: needs Debian's postfix" >&2; exit 1; }
mkdir -p "$dir"; dir=$(cd "$dir" && pwd); chmod 755 "$dir"
# Postfix's daemons run as user postfix: every folder above DIR must be searchable by it.
p=$dir; while p=${p%/*}; [ -n "$p" ]; do
	[ "$(stat -c %A "$p" | cut -c10)" = x ] || [ "$(stat -c %A "$p" | cut -c10)" = t ] ||
		{ echo "postfix-receiver: $p is not searchable by others (chmod o+x it, e.g. a mktemp -d folder)" >&2; exit 1; }
done
mkdir -p "$dir/etc" "$dir/spool" "$dir/data" "$dir/mail"
chown postfix "$dir/data"; chown 65534:65534 "$dir/mail"
# Postfix starts an instance from another config directory only if the default instance's
# main.cf lists it (a safety rule for its set-gid programs).
# Installed with "No configuration" there is no default main.cf at all: make
# one whose own instance can never listen (no inet services), only to list ours.
if [ ! -e /etc/postfix/main.cf ]; then
	printf '%s\n' '# Made by sealmail tests/mtalab: the default instance serves nothing.' \
		'master_service_disable = inet' >/etc/postfix/main.cf
fi
cur=$(postconf -h alternate_config_directories 2>/dev/null || true)
case " $cur " in *" $dir/etc "*) ;; *) postconf -e "alternate_config_directories = ${cur:+$cur }$dir/etc" ;; esac
# master.cf: the smtpd service bound to ADDR:25 by name; inet_interfaces must stay an address the
# host has (Postfix checks it), and only 127.0.0.1 is configured on lo.
sed "s/^smtp      inet/$addr:25 inet/" /usr/share/postfix/master.cf.dist >"$dir/etc/master.cf"
cat >"$dir/etc/main.cf" <<EOC
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
myhostname = mx-$addr.lab.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relay_domains =
alias_maps =
alias_database =
virtual_mailbox_domains = ${domains[*]}
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = static:all/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
smtpd_relay_restrictions = reject_unauth_destination
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
smtp_tls_security_level = none
EOC
for l in "${extra[@]}"; do postconf -c "$dir/etc" -e "$l"; done
postfix -c "$dir/etc" set-permissions >/dev/null 2>&1 || true
# Postfix prints its fatal errors only to a terminal (or syslog): give it one.
if ! script -qec "postfix -c '$dir/etc' start" /dev/null >"$dir/start.log" 2>&1; then
	cat "$dir/start.log" >&2; exit 1
fi
for _ in $(seq 50); do (exec 3<>"/dev/tcp/$addr/25") 2>/dev/null && break; sleep 0.1; done
(exec 3<>"/dev/tcp/$addr/25") 2>/dev/null || { echo "postfix-receiver: nothing listens on $addr:25" >&2; tail -5 "$dir/maillog" >&2; exit 1; }
echo "postfix receiving for ${domains[*]} on $addr:25; mail in $dir/mail/all/new; log $dir/maillog"
