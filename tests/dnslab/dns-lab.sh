#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# A real authoritative DNS server (NSD) for tests, with DNSSEC-signed zones and a matching
# libunbound configuration. Loopback only; nothing here touches the system's resolver.
#
#   dns-lab.sh start DIR [--addr IP] [--port N] ZONE_SPEC...
#   dns-lab.sh stop DIR
#
# ZONE_SPEC is FILE (unsigned), FILE:signed (signed, its key is a trust anchor: answers are
# "secure"), or FILE:bogus (signed, but the anchor is a different key: answers are "bogus").
# Each zone file names its zone on its `$ORIGIN` line. Needs Debian's nsd and ldnsutils.
# After start, DIR/unbound.conf is a libunbound configuration (ub_ctx_config()) that sends
# every query for the lab's zones to the lab server and validates with the lab's anchors;
# `unbound-host -C DIR/unbound.conf -v -t MX example.test` shows "(secure)", "(insecure)" or
# "(BOGUS ...)". DIR/env holds DNS_LAB_ADDR, DNS_LAB_PORT, DNS_LAB_UNBOUND_CONF.
set -eu
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '6,8p' "$0" >&2; exit 2; }
shift 2
case "$cmd" in
stop)
	[ -f "$dir/nsd.pid" ] && kill "$(cat "$dir/nsd.pid")" 2>/dev/null || true
	exit 0 ;;
start) ;;
*) echo "dns-lab: unknown command $cmd" >&2; exit 2 ;;
esac
addr=127.0.0.53 port=5353
while [ $# -gt 0 ]; do
	case "$1" in
	--addr) addr=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	*) break ;;
	esac
done
command -v nsd >/dev/null && command -v ldns-signzone >/dev/null ||
	{ echo "dns-lab: needs Debian packages nsd and ldnsutils" >&2; exit 1; }
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
zones="" anchors="" stubs=""
for spec in "$@"; do
	file=${spec%%:*}; mode=plain
	[ "$file" != "$spec" ] && mode=${spec#*:}
	origin=$(sed -n 's/^\$ORIGIN[[:space:]]\+\([^[:space:];]*\).*/\1/p' "$file" | head -1)
	[ -n "$origin" ] || { echo "dns-lab: $file has no \$ORIGIN line" >&2; exit 1; }
	name=${origin%.}
	cp "$file" "$dir/$name.zone"
	served=$name.zone
	if [ "$mode" != plain ]; then
		( cd "$dir"
		  ksk=$(ldns-keygen -a ECDSAP256SHA256 -k "$name")
		  zsk=$(ldns-keygen -a ECDSAP256SHA256 "$name")
		  ldns-signzone -n -f "$name.zone.signed" "$name.zone" "$ksk" "$zsk"
		  if [ "$mode" = bogus ]; then       # an anchor that matches no key of the zone
		  	other=$(ldns-keygen -a ECDSAP256SHA256 -k "$name")
		  	cp "$other.ds" "$name.anchor"
		  else cp "$ksk.ds" "$name.anchor"; fi
		  rm -f K"$name".*.private )
		served=$name.zone.signed
		anchors="$anchors    trust-anchor-file: \"$dir/$name.anchor\"
"
	fi
	zones="${zones}zone:
    name: \"$name\"
    zonefile: \"$served\"
"
	stubs="${stubs}stub-zone:
    name: \"$name.\"
    stub-addr: $addr@$port
"
	# unbound answers NXDOMAIN itself for special-use names (test., invalid., ...) unless told
	# not to: lift its default zone for the top-level label.
	tld=${name##*.}
	case "$anchors" in *"local-zone: \"$tld.\" nodefault"*) ;; *)
		anchors="$anchors    local-zone: \"$tld.\" nodefault
" ;; esac
done
cat >"$dir/nsd.conf" <<EOC
server:
    ip-address: $addr@$port
    port: $port
    username: ""
    chroot: ""
    zonesdir: "$dir"
    database: ""
    zonelistfile: "$dir/zone.list"
    pidfile: "$dir/nsd.pid"
    xfrdfile: "$dir/xfrd.state"
    xfrdir: "$dir"
    logfile: "$dir/nsd.log"
    verbosity: 1
remote-control:
    control-enable: no
$zones
EOC
cat >"$dir/unbound.conf" <<EOC
server:
    do-not-query-localhost: no
$anchors
$stubs
EOC
nsd-checkconf "$dir/nsd.conf"
nsd -c "$dir/nsd.conf"
for _ in $(seq 50); do [ -s "$dir/nsd.pid" ] && grep -q 'nsd started' "$dir/nsd.log" 2>/dev/null && break; sleep 0.1; done
grep -q 'nsd started' "$dir/nsd.log" || { echo "dns-lab: nsd did not start:" >&2; tail -5 "$dir/nsd.log" >&2; exit 1; }
printf 'DNS_LAB_ADDR=%s\nDNS_LAB_PORT=%s\nDNS_LAB_UNBOUND_CONF=%s\n' "$addr" "$port" "$dir/unbound.conf" | tee "$dir/env"
