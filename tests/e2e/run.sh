#!/usr/bin/env bash
# Runs every end-to-end test (tests/e2e/test_*.py) as root against the real kernel.
# Each test prints "PASS name" / "FAIL name: why" lines and cleans up after itself.
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "e2e: needs root (loads BPF programs); skipped" >&2
	echo "e2e: 0 passed, 0 failed"
	exit 0
fi
pass=0 fail=0
for t in "$here"/test_*.py; do
	[ -f "$t" ] || continue
	if [ -n "${E2E_ONLY:-}" ] && [[ "$(basename "$t")" != *"$E2E_ONLY"* ]]; then continue; fi
	log=$(mktemp)
	timeout 600 python3 "$t" --build "$build" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $(basename "$t"): exit $rc"; fi
	grep -E '^(PASS|FAIL|SKIP) ' "$log"
	if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
		echo "---- output of $(basename "$t") ----"; tail -60 "$log"; echo "----"
	fi
	rm -f "$log"
	pass=$((pass + p)) fail=$((fail + f))
done
echo "e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
