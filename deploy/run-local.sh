#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make run: the collector (SQLite) and the agent on this host, both in the foreground; the
# agent prints its events as JSON lines. Ctrl-C stops both. State lives in BUILD/run/.
#   AITRAIL_PORT   collector port (default 8443)
set -u
build=$(cd "${1:-build}" && pwd)
port=${AITRAIL_PORT:-8443}
run=$build/run
mkdir -p "$run/agent"
chmod 700 "$run" "$run/agent"

for t in enroll admin; do
	[ -s "$run/$t.token" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' \
		>"$run/$t.token")
done

# its own session: Ctrl-C reaches only the agent, which ships its last events before the
# collector is stopped below
setsid "$build/aitrail-collector" --listen "127.0.0.1:$port" --db "$run/collector.db" \
	--enroll-token-file "$run/enroll.token" --admin-token-file "$run/admin.token" \
	2>"$run/collector.log" &
coll=$!
agent=
stop() {
	trap - INT TERM EXIT
	[ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
	kill -TERM "$coll" 2>/dev/null && wait "$coll" 2>/dev/null
	echo "run: stopped; database and logs in $run" >&2
}
trap stop INT TERM EXIT

for _ in $(seq 50); do
	grep -q 'collector ready' "$run/collector.log" 2>/dev/null && break
	if ! kill -0 "$coll" 2>/dev/null; then
		echo "run: the collector did not start:" >&2
		cat "$run/collector.log" >&2
		exit 1
	fi
	sleep 0.1
done

cat >"$run/agent.yaml" <<EOC
# written by deploy/run-local.sh
state_dir: $run/agent
collector:
  url: "http://127.0.0.1:$port"
  enroll_token: "$(cat "$run/enroll.token")"
EOC

cat >&2 <<EOM
run: collector on http://127.0.0.1:$port (log: $run/collector.log, database: $run/collector.db)
run: query it from another terminal:
       export AITRAIL_SERVER=http://127.0.0.1:$port AITRAIL_TOKEN=$(cat "$run/admin.token")
       $build/aitrail sessions --since 1h
       $build/aitrail agents
EOM

if [ ! -x "$build/aitrail-agent" ]; then
	echo "run: $build/aitrail-agent is not built; serving the collector only (Ctrl-C stops)" >&2
	wait "$coll"
	exit $?
fi
"$build/aitrail-agent" --config "$run/agent.yaml" &
agent=$!
wait "$agent"
