#!/usr/bin/env bash
# make test: unit tests, then end-to-end tests; closes with one "N passed, N failed" line.
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
u=$("$here/run-unit.sh" "$build/tests" 2>&1 | tee /dev/stderr | tail -1)
e=$("$here/e2e/run.sh" "$build" 2>&1 | tee /dev/stderr | tail -1)
up=$(echo "$u" | sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed/\1/p')
uf=$(echo "$u" | sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed/\2/p')
ep=$(echo "$e" | sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed/\1/p')
ef=$(echo "$e" | sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed/\2/p')
up=${up:-0} uf=${uf:-1} ep=${ep:-0} ef=${ef:-1}
echo
echo "total: $((up + ep)) passed, $((uf + ef)) failed"
[ $((uf + ef)) -eq 0 ]
