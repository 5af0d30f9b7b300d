#!/usr/bin/env bash
# make test: unit tests, end-to-end tests, then a smoke boot of one fleet kernel under qemu
# (tests/vm/vmtest.py --smoke; AITRAIL_VM_SMOKE=0 leaves it out); closes with one
# "N passed, N failed" line.
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
u=$("$here/run-unit.sh" "$build/tests" 2>&1 | tee /dev/stderr | tail -1)
e=$("$here/e2e/run.sh" "$build" 2>&1 | tee /dev/stderr | tail -1)
v="vm: 0 passed, 0 failed"
if [ "${AITRAIL_VM_SMOKE:-1}" != 0 ]; then
	v=$("$here/vm/vmtest.py" --build "$build" --smoke 2>&1 | tee /dev/stderr | tail -1)
fi
passed() { echo "$1" | sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p'; }
failed() { echo "$1" | sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p'; }
up=$(passed "$u") uf=$(failed "$u") ep=$(passed "$e") ef=$(failed "$e")
vp=$(passed "$v") vf=$(failed "$v")
up=${up:-0} uf=${uf:-1} ep=${ep:-0} ef=${ef:-1} vp=${vp:-0} vf=${vf:-1}
echo
echo "total: $((up + ep + vp)) passed, $((uf + ef + vf)) failed"
[ $((uf + ef + vf)) -eq 0 ]
