#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Runs the test tiers and ends with one summary line. Tiers: unit (cmocka
# programs), fuzz (every fuzz target replays its seed corpus), integration
# (pytest driving the real binaries), systemd (real systemd in nspawn, when
# this machine can run it; otherwise a loud SKIP). Usage: check.sh [TIER...]
set -u
B=${B:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
tiers=${*:-unit fuzz integration systemd}
summary=()
fail=0

run_unit() {
	local pass=0 bad=0 t
	for t in "$B"/tests/test_*; do
		[ -x "$t" ] || continue
		if "$t" >"$B/tests/$(basename "$t").log" 2>&1; then
			pass=$((pass + 1))
		else
			bad=$((bad + 1))
			echo "FAIL unit $(basename "$t"):"
			tail -n 30 "$B/tests/$(basename "$t").log"
		fi
	done
	summary+=("unit: $pass passed, $bad failed")
	[ $bad -eq 0 ] || fail=1
}

run_fuzz() {
	local pass=0 bad=0 t n
	for t in "$B"/tests/fuzz_*-replay; do
		[ -x "$t" ] || continue
		n=$(basename "$t" -replay)
		if "$t" tests/fuzz/corpus/"$n" >"$B/tests/$n.log" 2>&1; then
			pass=$((pass + 1))
		else
			bad=$((bad + 1))
			echo "FAIL fuzz replay $n:"
			tail -n 30 "$B/tests/$n.log"
		fi
	done
	summary+=("fuzz corpora: $pass passed, $bad failed")
	[ $bad -eq 0 ] || fail=1
}

run_integration() {
	local out rc line
	out=$(mktemp)
	SEALMAIL_BUILD="$(pwd)/$B" SEALMAIL_HOOK_BUILD="$(pwd)/$B-hooks" "$PYTHON" -m pytest -q -p no:cacheprovider tests/integration \
		-o junit_family=xunit2 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed|error).* =+$|no tests ran' "$out" | tail -n 1)
	rm -f "$out"
	summary+=("integration: ${line:-no result} (rc=$rc)")
	[ "$rc" -eq 0 ] || fail=1
}

run_systemd() {
	if [ ! -x tests/systemd/run.sh ]; then
		echo "SKIP systemd: no real-systemd test in this tree yet"
		summary+=("systemd: SKIPPED (no test yet)")
		return
	fi
	local why
	why=$(tests/systemd/can-run.sh 2>&1)
	if [ $? -ne 0 ]; then
		echo "################################################################"
		echo "SKIP systemd tier: $why"
		echo "################################################################"
		summary+=("systemd: SKIPPED ($why)")
		return
	fi
	if B="$B" tests/systemd/run.sh; then
		summary+=("systemd: passed")
	else
		summary+=("systemd: FAILED")
		fail=1
	fi
}

for t in $tiers; do
	case $t in
	unit) run_unit ;;
	fuzz) run_fuzz ;;
	integration) run_integration ;;
	systemd) run_systemd ;;
	*) echo "check.sh: unknown tier $t" >&2; exit 2 ;;
	esac
done
echo
for s in "${summary[@]}"; do echo "  $s"; done
if [ $fail -eq 0 ]; then echo "check: PASS"; else echo "check: FAIL"; fi
exit $fail
