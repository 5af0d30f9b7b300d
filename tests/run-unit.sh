#!/usr/bin/env bash
# Runs every cmocka unit test binary in DIR (no root needed). Prints one line per binary and
# a closing "N passed, N failed" count of test cases. Exit status: 0 when all passed.
set -u
dir=${1:-build/tests}
pass=0 fail=0
for t in "$dir"/test_*; do
	[ -x "$t" ] || continue
	out=$("$t" 2>&1)
	rc=$?
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	p=${p:-0} f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	pass=$((pass + p)) fail=$((fail + f))
	if [ "$f" -ne 0 ]; then
		printf '%s\n' "$out" | grep -E 'FAIL|ERROR|error|Assert' | head -20
		echo "unit: $(basename "$t"): $p passed, $f failed"
	else
		echo "unit: $(basename "$t"): $p passed"
	fi
done
# No call loop between the files of these components: tools/callgraph.py over the objects of
# their sources (not every .o in the directory: a stale one of a removed file would count).
here=$(cd "$(dirname "$0")" && pwd)
for comp in collector agent; do
	objs=()
	for c in "$here/../$comp"/*.c; do
		objs+=("$dir/../obj/$comp/$(basename "${c%.c}").o")
	done
	if out=$("$here/../tools/callgraph.py" "${objs[@]}" 2>&1); then
		pass=$((pass + 1))
		echo "unit: callgraph $comp: 1 passed ($(printf '%s\n' "$out" | tail -1))"
	else
		fail=$((fail + 1))
		printf '%s\n' "$out"
		echo "unit: callgraph $comp: 0 passed, 1 failed"
	fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
