#!/bin/sh
# SPDX-License-Identifier: AGPL-3.0-or-later
# Installs every Debian package that building, testing and `make run` need.
# As root: apt-get. Otherwise: print the exact command and fail.
set -eu
PKGS="build-essential pkg-config clang libclang-rt-14-dev
libssl-dev libsystemd-dev libsqlcipher-dev libhiredis-dev
libseccomp-dev libsodium-dev libbsd-dev libcmocka-dev libmilter-dev
openssl redis-server redis-tools systemd python3 python3-pytest
swaks curl age isync offlineimap3 fetchmail opendkim opendkim-tools
systemd-container debootstrap iproute2 fail2ban python3-systemd
libunbound-dev dns-root-data nsd ldnsutils unbound-host testssl.sh postfix"
missing=""
for p in $PKGS; do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$s" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root: apt-get update && $cmd" >&2
	exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# The package index may be stale or absent on a fresh machine.
apt-get update -qq || true
# Postfix is a test receiver only (tests/mtalab): "No configuration" keeps it
# from becoming the system's MTA and binding port 25 on every address.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
$cmd -qq >/dev/null
# opendkim's package enables a system service; the tests run their own.
exit 0
