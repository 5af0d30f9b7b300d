#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The whole pipeline on loopback: aitrail-agent (real kernel) -> spool -> aitrail-collector
(SQLite) -> aitrail CLI. Sessions are run with the agentfix fixture under the name `claude`;
what the CLI returns for a session must be exactly what the agent printed for it (same event
seqs and types, each once). Then: the collector stopped and restarted, the agent SIGKILLed and
restarted, and a tiny spool overflowing while the collector is down (gap record)."""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

FAILS = []


def check(name, cond, why=""):
    if cond:
        print(f"PASS {name}", flush=True)
    else:
        print(f"FAIL {name}: {why}", flush=True)
        FAILS.append(name)
    return cond


def wait_for(fn, timeout, step=0.2):
    end = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() >= end:
            return v
        time.sleep(step)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    def __init__(self, build, tmp, port, name="collector", tls=(), ca=None):
        self.build, self.tmp, self.port, self.tls, self.ca = build, tmp, port, list(tls), ca
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self.name = name
        self.proc = None
        self.logpath = os.path.join(tmp, name + ".log")
        with open(os.path.join(tmp, "enroll.token"), "w") as f:
            f.write("e2e-pipeline-token\n")

    def start(self):
        log = open(self.logpath, "a")
        start = log.tell()
        self.proc = subprocess.Popen(
            [os.path.join(self.build, "aitrail-collector"), "--listen",
             f"127.0.0.1:{self.port}", "--db", os.path.join(self.tmp, self.name + ".db"),
             "--enroll-token-file", os.path.join(self.tmp, "enroll.token"),
             "--admin-token", "e2e-admin", "--heartbeat-s", "2"] + self.tls,
            stdout=subprocess.DEVNULL, stderr=log)
        log.close()

        def up():
            with open(self.logpath) as f:
                f.seek(start)
                return "collector ready" in f.read() or self.proc.poll() is not None
        wait_for(up, 10, 0.05)
        if self.proc.poll() is not None:
            raise RuntimeError("collector did not start: " + self.logtext())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def logtext(self):
        with open(self.logpath) as f:
            return f.read()

    def cli(self, *args):
        ca = ["--ca", self.ca] if self.ca else []
        p = subprocess.run([os.path.join(self.build, "aitrail"), "--server", self.url,
                            "--token", "e2e-admin", "--json"] + ca + list(args),
                           capture_output=True, text=True, timeout=30)
        if p.returncode:
            return None
        try:
            return json.loads(p.stdout)
        except ValueError:
            return None

    def session_events(self, sid):
        o = self.cli("events", "--session", sid, "--limit", "100000")
        return o.get("events", []) if o else None

    def agents(self):
        return (self.cli("agents") or {}).get("agents", [])

    def agent(self, agent_id):
        for a in self.agents():
            if a.get("id") == agent_id:
                return a
        return None


class Agent:
    """aitrail-agent in the background; its JSON lines are collected as they come."""

    def __init__(self, build, tmp, name, collector_url, extra=""):
        self.build = build
        self.state = os.path.join(tmp, name)
        self.config = os.path.join(tmp, name + ".yaml")
        self.logpath = os.path.join(tmp, name + ".log")
        with open(self.config, "w") as f:
            f.write(f"state_dir: {self.state}\nstats_interval_s: 2\n"
                    f"batch: {{max_ms: 200}}\n"
                    f"collector:\n  url: {collector_url}\n"
                    f"  enroll_token: e2e-pipeline-token\n{extra}")
        self.proc = None
        self.events = []
        self.lock = threading.Lock()

    def start(self):
        log = open(self.logpath, "a")
        start = log.tell()
        self.proc = subprocess.Popen([os.path.join(self.build, "aitrail-agent"), "--config",
                                      self.config], stdout=subprocess.PIPE, stderr=log,
                                     text=True, bufsize=1)
        log.close()
        self.reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self.reader.start()

        def ready():
            with open(self.logpath) as f:
                f.seek(start)
                return "ready:" in f.read() or self.proc.poll() is not None
        wait_for(ready, 60, 0.1)
        if self.proc.poll() is not None:
            raise RuntimeError("agent did not start: " + self.logtext()[-3000:])

    def _read(self, proc):
        for line in proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(ev)

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.reader.join(5)
        self.proc = None

    def logtext(self):
        with open(self.logpath) as f:
            return f.read()

    def agent_id(self):
        try:
            with open(os.path.join(self.state, "agent.id")) as f:
                return f.read().strip()
        except OSError:
            return ""


def run_session(fixture, *actions):
    """Runs the fixture as `claude`; returns its pid (the session root)."""
    p = subprocess.run([fixture] + list(actions), capture_output=True, text=True, timeout=120)
    m = re.search(r"agentfix pid=(\d+)", p.stdout)
    if not m:
        raise RuntimeError(f"fixture failed: rc {p.returncode} {p.stdout} {p.stderr}")
    return int(m.group(1))


def session_of(agent, pid, timeout=20):
    """(session id, that session's events as the agent printed them) once session_end is out."""
    def find():
        evs = agent.snapshot()
        sid = None
        for e in evs:
            s = e.get("session") or {}
            if e.get("type") == "session_end" and s.get("root_pid") == pid:
                sid = s.get("id")
        if not sid:
            return None
        return sid, [e for e in evs if (e.get("session") or {}).get("id") == sid]
    return wait_for(find, timeout)


def seqs(events):
    return sorted(e["seq"] for e in events)


def matches(coll, sid, want):
    """True once the collector has exactly the agent's events for the session."""
    got = coll.session_events(sid)
    if got is None:
        return not want  # a session whose every event was dropped is unknown there
    return sorted((e["seq"], e["type"]) for e in got) == sorted((e["seq"], e["type"])
                                                                  for e in want)


def describe(coll, sid, want):
    got = coll.session_events(sid) or []
    g, w = seqs(got), seqs(want)
    dups = len(g) - len(set(g))
    return (f"collector has {len(g)} events ({dups} duplicated), agent printed {len(w)}; "
            f"missing {sorted(set(w) - set(g))[:20]} extra {sorted(set(g) - set(w))[:20]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    build = os.path.abspath(ap.parse_args().build)
    for b in ("aitrail-agent", "aitrail-collector", "aitrail", "tests/fixtures/agentfix"):
        if not os.access(os.path.join(build, b), os.X_OK):
            print(f"SKIP test_pipeline: {b} not built")
            return 0
    tmp = tempfile.mkdtemp(prefix="aitrail-e2e-pipeline-")
    coll, agents, colls = None, [], []
    try:
        fixture = os.path.join(tmp, "claude")
        shutil.copy(os.path.join(build, "tests/fixtures/agentfix"), fixture)
        coll = Collector(build, tmp, free_port())
        coll.start()
        colls.append(coll)
        run(build, tmp, fixture, coll, agents)
        run_tls(build, tmp, fixture, colls, agents)
    finally:
        for a in agents:
            a.stop()
        for c in colls:
            c.stop()
        if FAILS:
            for c in colls:
                print(f"---- {c.logpath} (tail) ----\n" + c.logtext()[-3000:])
            for a in agents:
                print(f"---- {a.logpath} (tail) ----\n" + a.logtext()[-3000:])
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if FAILS else 0


def run(build, tmp, fixture, coll, agents):
    work = os.path.join(tmp, "work")
    os.mkdir(work)
    agent = Agent(build, tmp, "agent", coll.url)
    agents.append(agent)
    agent.start()

    # 1. a session, end to end
    pid = run_session(fixture, "exec-shell", os.path.join(work, "a.txt"),
                      "touch", os.path.join(work, "b.txt"), "exit", "0")
    s1 = session_of(agent, pid)
    if not check("agent_sees_session", s1 is not None, f"no session_end for pid {pid}"):
        return
    sid1, want1 = s1
    check("cli_events_match_agent", wait_for(lambda: matches(coll, sid1, want1), 15),
          describe(coll, sid1, want1))
    got = coll.session_events(sid1) or []
    check("session_content", {"session_start", "exec", "session_end"} <=
          {e["type"] for e in got} and any("sh" in json.dumps(e) for e in got
                                            if e["type"] == "exec"),
          f"types {[e['type'] for e in got]}")
    agent_id = agent.agent_id()
    key = os.path.join(agent.state, "agent.key")
    check("agent_key_0600", agent_id and os.path.exists(key) and
          os.stat(key).st_mode & 0o777 == 0o600, f"id {agent_id!r}")

    # 2. the collector goes away for a while, then comes back on the same port
    coll.stop()
    pid = run_session(fixture, "exec-shell", os.path.join(work, "c.txt"), "exit", "0")
    s2 = session_of(agent, pid)
    time.sleep(2)  # a few failed attempts
    coll.start()
    if check("outage_session_seen", s2 is not None, "no session_end"):
        sid2, want2 = s2
        check("outage_nothing_lost", wait_for(lambda: matches(coll, sid2, want2), 40),
              describe(coll, sid2, want2))
    check("outage_no_duplicates", matches(coll, sid1, want1), describe(coll, sid1, want1))

    # 3. the agent is SIGKILLed with events spooled but unsent, then restarted
    coll.stop()
    pid = run_session(fixture, "run", "/bin/sh", "-c",
                      "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; "
                      "do /bin/true; done", "--", "exit", "0")
    s3 = session_of(agent, pid)
    before = seqs(agent.snapshot())
    agent.stop(signal.SIGKILL)
    coll.start()
    agent.events = []
    agent.start()
    if check("sigkill_session_seen", s3 is not None and len(s3[1]) >= 40,
             f"session {s3 and len(s3[1])} events"):
        sid3, want3 = s3
        check("sigkill_spool_delivered", wait_for(lambda: matches(coll, sid3, want3), 40),
              describe(coll, sid3, want3))
    after = wait_for(lambda: seqs(agent.snapshot()), 10)
    check("sigkill_seq_continues", before and after and after[0] > before[-1],
          f"last before {before[-1:]} first after {after[:1]}")
    check("sigkill_same_agent", agent.agent_id() == agent_id, f"{agent.agent_id()} vs {agent_id}")

    def unclean():
        st = [e for e in agent.snapshot() if e.get("type") == "agent_stats"]
        return st and st[-1].get("lost", {}).get("unclean_stops")
    check("sigkill_counted_as_unclean_stop", wait_for(unclean, 10) == 1 and
          "did not stop cleanly" in agent.logtext(), f"unclean_stops {unclean()}")

    def chain_ok():
        a = coll.agent(agent_id)
        return a and a.get("batches_missing") == [] and a.get("chain_breaks") == [] and \
            a.get("events_declared_lost") == 0 and a
    a = wait_for(chain_ok, 10)
    check("collector_sees_whole_chain", a, f"agent {coll.agent(agent_id)}")

    # the key is revoked (a lost laptop): the agent must not let itself back in with the enroll
    # token it holds; its events wait in the spool until an operator readmits the host
    enrolled = {a.get("id") for a in coll.agents()}
    coll.cli("agents", "revoke", agent_id)
    pid = run_session(fixture, "exec-shell", os.path.join(work, "d.txt"), "exit", "0")
    s5 = session_of(agent, pid)
    logged = wait_for(lambda: "the collector revoked this agent" in agent.logtext(), 20)
    check("revoked_not_reenrolled", logged and agent.agent_id() == agent_id and
          {a.get("id") for a in coll.agents()} == enrolled, f"agent id {agent.agent_id()!r}, "
          f"collector agents {[a.get('id') for a in coll.agents()]}")
    if s5:
        check("revoked_events_not_stored", not coll.session_events(s5[0]),
              "a revoked agent's events were stored")
    # readmitting: the operator deletes the key and restarts; the spooled session arrives
    agent.stop()
    os.unlink(os.path.join(agent.state, "agent.key"))
    agent.start()
    new_id = wait_for(lambda: agent.agent_id() not in ("", agent_id) and agent.agent_id(), 20)
    if check("readmitted_reenrolls", new_id and s5, f"agent id {agent.agent_id()!r}"):
        sid5 = s5[0]
        # all the agent printed for the session, the summaries it flushed at its stop included
        want5 = [e for e in agent.snapshot() if (e.get("session") or {}).get("id") == sid5]
        check("readmitted_spool_delivered", wait_for(lambda: matches(coll, sid5, want5), 20),
              describe(coll, sid5, want5))
        a = wait_for(lambda: (coll.agent(new_id) or {}).get("batches_received") and
                     coll.agent(new_id), 10) or {}
        check("readmitted_new_chain_clean", a.get("batches_missing") == [] and
              a.get("chain_breaks") == [], f"agent {a}")
    agent.stop()

    # 4. a tiny spool fills up while the collector is down: drop_oldest and a gap record
    coll.stop()
    small = Agent(build, tmp, "small", coll.url,
                  "spool:\n  max_bytes: 512K\n  when_full: drop_oldest\n")
    agents.append(small)
    small.start()
    # ~9000 events, about 1.2 MB spooled: well over the bound, while the bound still holds
    # this session's tail even if other tests on the host add events meanwhile
    loop = "i=0; while [ $i -lt 3000 ]; do /bin/true; i=$((i+1)); done"
    pid = run_session(fixture, "run", "/bin/sh", "-c", loop, "--", "exit", "0")
    s4 = session_of(small, pid, 120)
    time.sleep(1)
    coll.start()
    small_id = wait_for(small.agent_id, 20)
    check("late_enrollment", small_id, "the agent did not enroll once the collector was up")

    def gaps_in():
        a = coll.agent(small_id)
        return a and a.get("gaps") and a
    wait_for(gaps_in, 30)

    def hb_dropped():
        st = (coll.agent(small_id) or {}).get("stats") or {}
        return (st.get("lost") or {}).get("spool_dropped", 0)
    check("heartbeat_reports_spool_loss", wait_for(hb_dropped, 10),
          f"agent {coll.agent(small_id)}")
    # Other tests may run sessions on this host meanwhile: this agent records them too, so
    # the checks cover every session it saw start (matched_by != scan: no earlier agent of
    # this test saw them), not only ours.
    def own_sessions(evs):
        started = {(e.get("session") or {}).get("id") for e in evs
                   if e.get("type") == "session_start" and e.get("matched_by") != "scan"}
        out = {}
        for e in evs:
            sid = (e.get("session") or {}).get("id")
            if sid in started:
                out.setdefault(sid, []).append(e)
        return out

    def newest_stored():
        by_sid = own_sessions(small.snapshot())
        newest = max((e for evs in by_sid.values() for e in evs), key=lambda e: e["seq"],
                     default=None)
        got = coll.session_events(newest["session"]["id"]) if newest else None
        return got is not None and newest["seq"] in {e["seq"] for e in got}
    check("spool_full_newest_kept", wait_for(newest_stored, 30),
          "the newest session event is not at the collector")
    small.stop()  # the final stats (and anything left) are flushed at exit
    printed = small.snapshot()
    final = [e for e in printed if e.get("type") == "agent_stats" and e.get("final")]
    dropped = final[-1]["lost"]["spool_dropped"] if final else -1
    a = wait_for(lambda: coll.agent(small_id), 5) or {}
    gaps = a.get("gaps", [])
    declared = sum(g["events"] for g in gaps)
    dropped_seqs = {e["seq"] for e in printed
                    if any(g["from_seq"] <= e["seq"] <= g["to_seq"] for g in gaps)}
    print(f"info: spool_full: agent printed {len(printed)} events, dropped {dropped}, "
          f"collector has {len(gaps)} gap records for {declared} events: "
          f"{[(g['from_seq'], g['to_seq'], g['events']) for g in gaps][:5]}")
    check("spool_full_gap_record", gaps and all(g["reason"] == "spool_full_drop_oldest"
                                                for g in gaps) and dropped > 0 and
          declared == dropped == a.get("events_declared_lost") and gaps[0]["from_seq"] == 1,
          f"gaps {gaps} declared {declared} agent dropped {dropped}")
    check("spool_full_gap_ranges_exact", len(dropped_seqs) == declared,
          f"{len(dropped_seqs)} printed events fall in the gap ranges, {declared} declared")
    kept = {sid: [e for e in evs if e["seq"] not in dropped_seqs]
            for sid, evs in own_sessions(printed).items()}
    bad = lambda: [sid for sid, evs in kept.items() if not matches(coll, sid, evs)]
    wait_for(lambda: not bad(), 30)
    still = bad()
    check("spool_full_rest_delivered", s4 and s4[0] in kept and not still,
          f"{len(still)} of {len(kept)} sessions differ: " +
          "; ".join(describe(coll, sid, kept[sid]) for sid in still[:3]))
    check("spool_full_batches_complete", a.get("batches_missing") == [] and
          a.get("chain_breaks") == [], f"agent {a}")


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1, a client certificate, and an unrelated CA."""
    for ca in ("ca", "otherca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                f"/CN=aitrail e2e {ca}", "-keyout", f"{d}/{ca}.key", "-out", f"{d}/{ca}.pem")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext + "\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=aitrail e2e {name}",
                "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr")
        openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.pem", "-CAkey",
                f"{d}/ca.key", "-CAcreateserial", "-days", "1", "-extfile", f"{d}/{name}.ext",
                "-out", f"{d}/{name}.pem")


def run_tls(build, tmp, fixture, colls, agents):
    """HTTPS with mutual TLS: the agent verifies the collector by the CA and shows its own
    certificate; an agent trusting another CA refuses the collector and keeps spooling."""
    if not shutil.which("openssl"):
        print("SKIP tls: no openssl command")
        return
    d = os.path.join(tmp, "pki")
    os.mkdir(d)
    make_certs(d)
    coll = Collector(build, tmp, free_port(), "collector-tls",
                     ["--tls-cert", f"{d}/server.pem", "--tls-key", f"{d}/server.key",
                      "--tls-client-ca", f"{d}/ca.pem"], ca=f"{d}/ca.pem")
    colls.append(coll)
    coll.start()
    tls = (f"  ca_file: {d}/ca.pem\n  cert_file: {d}/client.pem\n"
           f"  key_file: {d}/client.key\n")
    agent = Agent(build, tmp, "tls", coll.url, tls)
    agents.append(agent)
    agent.start()
    pid = run_session(fixture, "exec-shell", os.path.join(tmp, "tls.txt"), "exit", "0")
    s = session_of(agent, pid)
    if check("tls_session_seen", s is not None, "no session_end"):
        sid, want = s
        check("tls_mutual_delivered", wait_for(lambda: matches(coll, sid, want), 20),
              describe(coll, sid, want))
    agent.stop()

    wrong = Agent(build, tmp, "tls-wrong-ca", coll.url,
                  tls.replace(f"{d}/ca.pem", f"{d}/otherca.pem"))
    agents.append(wrong)
    wrong.start()
    refused = wait_for(lambda: re.search(r"unreachable \(.*(certificate|SSL)",
                                         wrong.logtext()), 15)
    check("tls_wrong_ca_refused", refused and not wrong.agent_id(),
          f"log: {wrong.logtext()[-1500:]}")
    wrong.stop()
    spool = os.path.join(wrong.state, "spool")
    check("tls_wrong_ca_keeps_spool", any(f.endswith(".seg") for f in os.listdir(spool)),
          f"spool {os.listdir(spool)}")


if __name__ == "__main__":
    sys.exit(main())
