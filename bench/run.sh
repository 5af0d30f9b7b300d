#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make bench: what aitrail costs the host, side by side with auditd. Usage: bench/run.sh BUILD
# [bench.py options]. The driver undoes everything it changes; this trap is the second line of
# defence should it die without running its own cleanup (the bpf_stats sysctl and audit state).
set -u
build=${1:-build}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "bench: must run as root (loads BPF programs, runs auditd)" >&2
	exit 2
fi
# One bench per host: two would fight over auditd and save each other's bpf_stats setting.
lock=/run/lock/aitrail-bench.lock
mkdir -p "$(dirname "$lock")"
exec 9>"$lock"
if ! flock -n 9; then
	echo "bench: failed to lock $lock: another make bench is running on this host; wait for it" >&2
	exit 1
fi
stats_prev=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || echo "")
audit_prev=$(auditctl -s 2>/dev/null | awk '$1 == "enabled" { print $2 }')
backlog_prev=$(auditctl -s 2>/dev/null | awk '$1 == "backlog_limit" { print $2 }')
restore() {
	[ -n "$stats_prev" ] && echo "$stats_prev" >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null
	if [ -n "$audit_prev" ] && command -v auditctl >/dev/null; then
		auditctl -D -k aitrail-bench >/dev/null 2>&1
		[ "$audit_prev" != 2 ] && auditctl -e "$audit_prev" >/dev/null 2>&1
		[ -n "$backlog_prev" ] && auditctl -b "$backlog_prev" >/dev/null 2>&1
	fi
	return 0
}
trap restore EXIT
trap 'exit 130' INT TERM
python3 "$here/bench.py" --build "$build" "$@"
