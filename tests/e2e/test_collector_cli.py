#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The collector and the aitrail CLI end to end: a real aitrail-collector on a loopback port,
fed over HTTP like an agent would (protobuf encoded here by hand, independently of protobuf-c,
so the wire contract itself is checked), then queried with the CLI in table and --json form."""
import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib

FAILS = []


def check(name, cond, why=""):
    if cond:
        print(f"PASS {name}")
    else:
        print(f"FAIL {name}: {why}")
        FAILS.append(name)


# --- minimal protobuf encoding (proto3: default values are not written) ---
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_uint(num, v):
    return varint(num << 3) + varint(v) if v else b""


def f_sint(num, v):
    return f_uint(num, (v << 1) ^ (v >> 63))


def f_bytes(num, v):
    if isinstance(v, str):
        v = v.encode()
    return varint(num << 3 | 2) + varint(len(v)) + v if v else b""


def f_msg(num, v):
    return varint(num << 3 | 2) + varint(len(v)) + v


def decode(buf):
    """field number -> list of values (ints or bytes)."""
    out, i = {}, 0
    while i < len(buf):
        tag, i = _rd(buf, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = _rd(buf, i)
        elif wt == 2:
            n, i = _rd(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wt}")
        out.setdefault(num, []).append(v)
    return out


def _rd(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def agent_info(host, boot, agent_id=""):
    return f_bytes(1, agent_id) + f_bytes(2, host) + f_bytes(3, boot) + f_bytes(4, "e2e")


def event(etype, ts, host, sid, pid, ppid, comm, exe, seq, body_num, body):
    session = f_bytes(1, sid) + f_bytes(2, "claude") + f_uint(3, 4000)
    proc = (f_uint(1, pid) + f_uint(2, ppid) + f_uint(3, 1000) + f_bytes(4, "alice") +
            f_bytes(5, comm) + f_bytes(6, exe))
    return (f_bytes(1, etype) + f_uint(2, ts) + f_bytes(3, host) + f_msg(4, session) +
            f_msg(5, proc) + f_uint(6, seq) + f_msg(body_num, body))


def batch(seq, prev, events, host, boot, gaps=()):
    h = hashlib.sha256(prev + b"".join(events)).digest()
    body = (f_uint(1, 1) + f_msg(2, agent_info(host, boot)) + f_uint(3, seq) + f_bytes(4, prev) +
            f_bytes(5, h))
    for e in events:
        body += f_msg(6, e)
    for g in gaps:
        body += f_msg(7, g)
    return body, h


# --- the collector ---
class Collector:
    def __init__(self, build, tmp, extra=()):
        self.tmp = tmp
        with open(os.path.join(tmp, "enroll.token"), "w") as f:
            f.write("e2e-enroll-token\n")
        self.log = open(os.path.join(tmp, "collector.log"), "w+")
        self.proc = subprocess.Popen(
            [os.path.join(build, "aitrail-collector"), "--listen", "127.0.0.1:0",
             "--db", os.path.join(tmp, "c.db"), "--enroll-token-file",
             os.path.join(tmp, "enroll.token"), "--admin-token", "e2e-admin", *extra],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = None
        for _ in range(100):
            self.log.seek(0)
            m = re.search(r"\(port (\d+)\)", self.log.read())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if not self.port:
            self.stop()
            raise RuntimeError("collector did not start: " + self.logtext())
        self.url = f"http://127.0.0.1:{self.port}"

    def logtext(self):
        self.log.seek(0)
        return self.log.read()

    def post(self, path, body, key=None):
        req = urllib.request.Request(self.url + path, data=zlib.compress(body), method="POST")
        req.add_header("Content-Type", "application/x-protobuf")
        req.add_header("Content-Encoding", "deflate")
        if key:
            req.add_header("Authorization", "Bearer " + key)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def cli(build, url, *args, token="e2e-admin"):
    cmd = [os.path.join(build, "aitrail"), "--server", url]
    if token:
        cmd += ["--token", token]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    build = os.path.abspath(ap.parse_args().build)
    for name, fn, extra in (("main", run, ()), ("report", run_report, ()),
                            ("periodic", run_periodic, ("--heartbeat-s", "1", "--silent-after", "2",
                                                "--retention-days", "1"))):
        tmp = tempfile.mkdtemp(prefix="aitrail-e2e-coll-")
        coll = None
        try:
            coll = Collector(build, tmp, extra)
            fn(build, coll)
        finally:
            if coll:
                log = coll.logtext()
                coll.stop()
                if FAILS:
                    print(f"---- collector log ({name}) ----\n" + log)
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if FAILS else 0


def run_periodic(build, coll):
    """An agent that stops heartbeating is logged as silent, and as back when it returns;
    events past retention are deleted, recent ones stay."""
    tag = os.urandom(4).hex()
    host = f"e2e-quiet-{tag}"
    st, body = coll.post("/v1/enroll", f_bytes(1, "e2e-enroll-token") +
                         f_msg(2, agent_info(host, "b")))
    key = decode(body)[2][0].decode()
    hb = f_msg(1, agent_info(host, "b")) + f_uint(6, 1)
    coll.post("/v1/heartbeat", hb, key)
    now, day = time.time_ns(), 86400 * 10**9
    old = [event("exec", now - 3 * day, host, f"old-{tag}", 10, 1, "sh", "/bin/sh", 1, 12,
                 f_bytes(1, "/bin/sh")),
           event("exec", now - 60 * 10**9, host, f"new-{tag}", 11, 1, "sh", "/bin/sh", 2, 12,
                 f_bytes(1, "/bin/sh"))]
    b, h1 = batch(1, b"\0" * 32, old, host, "b")
    st, _ = coll.post("/v1/events", b, key)
    # a newer agent: its events carry a field (8) this collector does not know, between known
    # ones; the hash covers the bytes as sent, so the chain holds
    newer = (f_bytes(1, "exec") + f_uint(2, now) + f_bytes(3, host) +
             f_msg(4, f_bytes(1, f"new-{tag}") + f_bytes(2, "claude")) + f_uint(6, 3) +
             f_uint(8, 42) + f_msg(12, f_bytes(1, "/bin/true")))
    b2, _ = batch(2, h1, [newer], host, "b")
    st2, _ = coll.post("/v1/events", b2, key)
    rc, out, _ = cli(build, coll.url, "--json", "agents")
    ag = [a for a in json.loads(out)["agents"] if a["host"] == host] if rc == 0 else []
    check("unknown_fields_keep_chain", st2 == 200 and len(ag) == 1 and
          ag[0]["chain_breaks"] == [] and ag[0]["batches_received"] == 2, f"{st2} {ag}")

    def wait_log(pat, secs):
        end = time.time() + secs
        while time.time() < end:
            if re.search(pat, coll.logtext()):
                return True
            time.sleep(0.2)
        return False
    check("silent_agent_logged", wait_log(rf"agent ag-\w+ \(host {host}\) is silent", 8),
          coll.logtext()[-500:])
    rc, out, err = cli(build, coll.url, "agents")
    line = [l for l in out.splitlines() if host in l]
    check("cli_agents_silent", rc == 0 and len(line) == 1 and "SILENT" in line[0],
          f"rc {rc} out {out!r}")
    check("retention_logged", st == 200 and
          wait_log(r"retention: deleted 1 events older than 1 days", 5), coll.logtext()[-500:])
    rc1, out1, _ = cli(build, coll.url, "--json", "events", "--session", f"new-{tag}")
    rc2, _, err2 = cli(build, coll.url, "--json", "events", "--session", f"old-{tag}")
    check("retention_keeps_recent", rc1 == 0 and len(json.loads(out1)["events"]) == 2 and
          rc2 == 1 and "no session" in err2, f"{out1!r} {err2!r}")
    coll.post("/v1/heartbeat", hb, key)
    check("agent_back_logged", wait_log(rf"\(host {host}\) is back", 5), coll.logtext()[-500:])


def run_report(build, coll):
    """aitrail report: counts over a window of stored events, checked one by one."""
    tag = os.urandom(4).hex()
    host, boot = f"e2e-rep-{tag}", f"boot-{tag}"
    st, body = coll.post("/v1/enroll", f_bytes(1, "e2e-enroll-token") +
                         f_msg(2, agent_info(host, boot)))
    key = decode(body)[2][0].decode() if st == 200 else ""
    S = 10**9
    t0 = time.time_ns() - 3 * 3600 * S  # three hours ago: outside the other runs' window
    a, b = f"rep-a-{tag}", f"rep-b-{tag}"

    def ev(etype, sid, seq, num, body):
        return event(etype, t0 + seq * S, host, sid, 5000, 1, "claude", "/usr/bin/claude", seq,
                     num, body)

    def close(sport, sent, recv, final, name, cls, vendor):
        return (f_bytes(1, "inet") + f_bytes(2, "tcp") + f_bytes(3, "10.9.9.9") +
                f_uint(4, 443) + f_bytes(5, "10.0.0.5") + f_uint(6, sport) + f_uint(7, sent) +
                f_uint(8, recv) + f_uint(10, S) + f_uint(11, 1 if final else 0) +
                f_bytes(12, name) + f_bytes(13, "tls_sni") + f_bytes(14, cls) + f_bytes(15, vendor))

    def decision(suppressed):
        return (f_bytes(1, "no-paste") + f_bytes(2, "deny") + f_bytes(3, "enforce") +
                f_bytes(4, "cgroup_sock_addr") + f_bytes(5, "blocked") + f_bytes(6, "network") +
                f_bytes(7, "paste.example:443") + f_uint(9, suppressed))
    evs = [
        ev("session_start", a, 1, 10, f_bytes(1, "claude") + f_bytes(3, "alice")),
        ev("session_start", b, 2, 10, f_bytes(1, "claude") + f_bytes(3, "bob")),
        # one connection reported while open, then at its close: the close counts, once
        ev("net_close", a, 3, 18, close(40001, 1000, 50, False, "api.anthropic.com",
                                         "model_vendor", "anthropic")),
        ev("net_close", a, 4, 18, close(40001, 5000, 700, True, "api.anthropic.com",
                                         "model_vendor", "anthropic")),
        ev("net_close", a, 5, 18, close(40002, 3000, 200, True, "api.anthropic.com",
                                         "model_vendor", "anthropic")),
        ev("net_close", b, 6, 18, close(40003, 100, 90000, True, "registry.npmjs.org",
                                         "package_registry", "npm")),
        ev("file_read", a, 7, 41, f_bytes(1, "/home/alice/.aws/credentials") +
           f_bytes(3, "~/.aws/**")),
        ev("file_read", a, 8, 41, f_bytes(1, "/home/alice/.aws/config") + f_bytes(3, "~/.aws/**")),
        ev("file_read", b, 9, 41, f_bytes(1, "/home/bob/.ssh/id_ed25519") +
           f_bytes(3, "~/.ssh/**")),
        ev("file_write", a, 10, 40, f_bytes(1, "/p/a.txt") + f_uint(3, 10)),
        ev("file_write", a, 11, 40, f_bytes(1, "/p/a.txt") + f_uint(3, 5)),
        ev("file_write", b, 12, 40, f_bytes(1, "/p/b.txt") + f_uint(3, 7)),
        ev("policy_decision", a, 13, 30, decision(2)),
        ev("policy_decision", b, 14, 30, decision(0)),
    ]
    body, _ = batch(1, b"\0" * 32, evs, host, boot)
    st, _ = coll.post("/v1/events", body, key)
    check("report_batch_stored", st == 200, f"status {st}")
    rc, out, err = cli(build, coll.url, "--json", "report", "--since", "200m", "--until", "170m")
    try:
        r = json.loads(out)
    except ValueError:
        r = {}
    sess = r.get("sessions", {})
    check("report_sessions", sess.get("total") == 2 and
          sess.get("by_user") == {"alice": 1, "bob": 1} and sess.get("by_host") == {host: 2} and
          sess.get("by_tool") == {"claude": 2}, f"rc {rc} {sess} err {err}")
    dests = [(d["name"], d["vendor"], d["connections"], d["bytes_sent"], d["bytes_received"])
             for d in r.get("destinations", [])]
    check("report_destinations_latest_report_per_connection_summed",
          dests == [("api.anthropic.com", "anthropic", 2, 8000, 900),
                    ("registry.npmjs.org", "npm", 1, 100, 90000)], f"{dests}")
    reads = [(x["pattern"], x["reads"], x["sessions"]) for x in r.get("sensitive_reads", [])]
    check("report_sensitive_reads", reads == [("~/.aws/**", 2, 1), ("~/.ssh/**", 1, 1)],
          f"{reads}")
    check("report_files_written", r.get("files_written") ==
          {"writes": 3, "paths": 2, "sessions": 2, "bytes_written": 22}, f"{r.get('files_written')}")
    pol = [(x["rule_id"], x["action"], x["outcome"], x["decisions"]) for x in r.get("policy", [])]
    check("report_policy_counts_suppressed", pol == [("no-paste", "deny", "blocked", 4)], f"{pol}")
    rc, out, err = cli(build, coll.url, "report", "--since", "200m", "--until", "170m")
    line = [x for x in out.splitlines() if "api.anthropic.com" in x]
    check("report_table", rc == 0 and "Sessions: 2" in out and len(line) == 1 and
          "model_vendor" in line[0] and "8.0 kB" in line[0] and
          "3 writes to 2 paths by 2 sessions" in out, f"rc {rc} out {out!r} err {err!r}")
    rc, out, err = cli(build, coll.url, "report", "--since", "yesterday-ish")
    check("report_bad_time", rc == 2 and "--since yesterday-ish" in err, f"rc {rc} err {err!r}")


def run(build, coll):
    tag = os.urandom(4).hex()
    host, boot, sid = f"e2e-host-{tag}", f"boot-{tag}", f"e2e-session-{tag}"

    st, body = coll.post("/v1/enroll", f_bytes(1, "wrong") + f_msg(2, agent_info(host, boot)))
    check("enroll_wrong_token_401", st == 401, f"status {st}")
    st, body = coll.post("/v1/enroll", f_bytes(1, "e2e-enroll-token") +
                         f_msg(2, agent_info(host, boot)))
    check("enroll", st == 200, f"status {st}")
    rep = decode(body)
    agent_id, key = rep[1][0].decode(), rep[2][0].decode()

    t0 = time.time_ns() - 60 * 10**9
    S = 10**9
    evs = [
        event("session_start", t0, host, sid, 4000, 1, "claude", "/usr/bin/claude", 1, 10,
              f_bytes(1, "claude") + f_bytes(2, "/home/alice/proj") + f_bytes(3, "alice")),
        event("exec", t0 + 1 * S, host, sid, 4001, 4000, "bash", "/usr/bin/bash", 2, 12,
              f_bytes(1, "/usr/bin/bash") + f_bytes(2, "bash") + f_bytes(2, "-c") +
              f_bytes(2, "curl https://api.example.com")),
        event("exec", t0 + 2 * S, host, sid, 4002, 4001, "curl", "/usr/bin/curl", 3, 12,
              f_bytes(1, "/usr/bin/curl") + f_bytes(2, "curl") +
              f_bytes(2, "https://api.example.com")),
        event("net_connect", t0 + 3 * S, host, sid, 4002, 4001, "curl", "/usr/bin/curl", 4, 14,
              f_bytes(1, "inet") + f_bytes(2, "tcp") + f_bytes(3, "10.1.2.3") + f_uint(4, 443) +
              f_bytes(8, "connect")),
        event("exit", t0 + 4 * S, host, sid, 4002, 4001, "curl", "/usr/bin/curl", 5, 13, b""),
        event("file_write", t0 + 5 * S, host, sid, 4001, 4000, "bash", "/usr/bin/bash", 6, 15,
              f_bytes(1, "/home/alice/proj/notes.md")),
        event("exit", t0 + 6 * S, host, sid, 4001, 4000, "bash", "/usr/bin/bash", 7, 13, b""),
        event("session_end", t0 + 7 * S, host, sid, 4000, 1, "claude", "/usr/bin/claude", 8,
              11, f_sint(1, 0) + f_uint(3, 7 * S)),
    ]
    b1, h1 = batch(1, b"\0" * 32, evs[:4], host, boot)
    b2, h2 = batch(2, h1, evs[4:6], host, boot)
    gap = f_uint(1, 9) + f_uint(2, 15) + f_uint(3, 7) + f_bytes(4, "spool_full_drop_oldest")
    b3, h3 = batch(3, h2, evs[6:], host, boot, gaps=[gap])
    st, body = coll.post("/v1/events", b1, key)
    ack = decode(body) if st == 200 else {}
    check("batch_stored", st == 200 and ack.get(2) == [b"stored"] and ack.get(3) == [4],
          f"status {st} ack {ack}")
    st, body = coll.post("/v1/events", b1, key)
    check("batch_duplicate", st == 200 and decode(body).get(2) == [b"duplicate"],
          f"status {st} {body!r}")
    # batch 2 is lost in transit; batch 3 arrives
    st, _ = coll.post("/v1/events", b3, key)
    check("batch_3_stored", st == 200, f"status {st}")
    st, _ = coll.post("/v1/heartbeat", f_msg(1, agent_info(host, boot)) + f_uint(5, 3) +
                      f_uint(6, 10), key)
    check("heartbeat", st == 200, f"status {st}")

    url = coll.url
    rc, out, err = cli(build, url, "--json", "sessions", "--host", host, "--since", "1h")
    try:
        sessions = json.loads(out)["sessions"]
    except (ValueError, KeyError):
        sessions = []
    s = sessions[0] if sessions else {}
    check("cli_sessions_json", rc == 0 and len(sessions) == 1 and s.get("id") == sid and
          s.get("tool") == "claude" and s.get("user") == "alice" and s.get("events") == 6 and
          s.get("exit_code") == 0, f"rc {rc} out {out[:400]} err {err}")
    rc, out, err = cli(build, url, "sessions", "--host", host, "--tool", "claude")
    line = [l for l in out.splitlines() if sid in l]
    check("cli_sessions_table", rc == 0 and out.startswith("START (UTC)") and len(line) == 1 and
          "claude" in line[0] and "alice" in line[0] and "exit 0" in line[0],
          f"rc {rc} out {out!r} err {err}")
    rc, out, err = cli(build, url, "--json", "sessions", "--agent", agent_id)
    rc2, out2, _ = cli(build, url, "--json", "sessions", "--agent", "ag-nobody", "--host", host)
    check("cli_sessions_agent", rc == 0 and [x["id"] for x in json.loads(out)["sessions"]] == [sid]
          and rc2 == 0 and json.loads(out2)["sessions"] == [], f"{out[:300]} {out2[:300]}")
    rc, out, err = cli(build, url, "sessions", "--host", host, "--until", "2h")
    check("cli_sessions_until_filters", rc == 0 and sid not in out and "no sessions" in out,
          f"rc {rc} out {out!r}")

    rc, out, err = cli(build, url, "events", "--session", sid, "--type", "net_connect", "--json")
    try:
        events = json.loads(out)["events"]
    except (ValueError, KeyError):
        events = []
    check("cli_events_json", rc == 0 and len(events) == 1 and
          events[0].get("detail") == "tcp 10.1.2.3:443" and events[0].get("pid") == 4002 and
          events[0].get("event", {}).get("daddr") == "10.1.2.3" and
          events[0]["event"].get("dport") == 443 and events[0]["event"].get("syscall") == "connect",
          f"rc {rc} out {out[:400]} err {err}")
    rc, out, err = cli(build, url, "events", "--session", sid, "--limit", "2")
    check("cli_events_limit", rc == 0 and out.strip().endswith("2 events") and
          "showing the first 2 events only" in err, f"rc {rc} out {out!r} err {err!r}")
    rc, out, err = cli(build, url, "events", "--session", sid)
    rows = [l for l in out.splitlines()[1:] if re.match(r"\d{4}-", l)]
    check("cli_events_table", rc == 0 and len(rows) == 6 and "net_connect" in out and
          "notes.md" not in out and out.strip().endswith("6 events"),
          f"rc {rc} out {out!r}")

    rc, out, err = cli(build, url, "agents", "--json")
    try:
        a = [x for x in json.loads(out)["agents"] if x["id"] == agent_id][0]
    except (ValueError, KeyError, IndexError):
        a = {}
    check("cli_agents_json_missing", a.get("batches_missing") == [{"from_seq": 2, "to_seq": 2}]
          and a.get("events_declared_lost") == 7 and a.get("heartbeat_interval_s") == 10 and
          a.get("silent") is False and a.get("chain_breaks") == [], f"agent {a}")
    # batch 2 arrives late: it fits both neighbours, the hole closes, its events join in
    st, _ = coll.post("/v1/events", b2, key)
    check("batch_2_late", st == 200, f"status {st}")

    rc, out, err = cli(build, url, "--json", "events", "--session", sid, "--type", "file")
    check("cli_events_type_file", rc == 0 and [e["type"] for e in json.loads(out)["events"]] ==
          ["file_write"], f"rc {rc} {out[:300]}")
    rc, out, err = cli(build, url, "timeline", "--session", sid)
    lines = out.splitlines()

    def indent_of(pat):
        for l in lines:
            if pat in l:
                return len(l) - len(l.lstrip())
        return -1
    i_claude, i_bash, i_curl = indent_of("[4000]"), indent_of("[4001]"), indent_of("[4002]")
    i_conn = indent_of("net_connect")
    check("cli_timeline_header", len(lines) > 2 and
          lines[1].startswith(f"  claude on {host} as alice, started ") and
          lines[1].endswith(", exit 0 after 7.0s") and lines[2] == "  in /home/alice/proj",
          f"{lines[:3]}")
    check("cli_timeline_tree", rc == 0 and 0 <= i_claude < i_bash < i_curl < i_conn,
          f"indents {i_claude} {i_bash} {i_curl} {i_conn}: {out!r}")
    order = [l.split()[2] for l in lines if re.match(r"\s+\d{4}-\d\d-\d\d ", l)]
    check("cli_timeline_time_order", order == ["session_start", "exec", "exec", "net_connect",
                                               "exit", "file_write", "exit", "session_end"],
          f"order {order}")
    rc, out, err = cli(build, url, "--json", "timeline", "--session", sid)
    try:
        root = json.loads(out)["processes"][0]
        curl = root["children"][0]["children"][0]
    except (ValueError, KeyError, IndexError):
        root, curl = {}, {}
    check("cli_timeline_json", curl.get("pid") == 4002 and
          [a["type"] for a in curl.get("activity", [])] == ["exec", "net_connect", "exit"],
          f"out {out[:600]}")

    # a batch that does not chain to batch 3
    b4, _ = batch(4, b"\x55" * 32, [event("exit", t0 + 9 * S, host, sid, 4000, 1, "claude", "",
                                          9, 13, b"")], host, boot)
    st, _ = coll.post("/v1/events", b4, key)
    rc, out, err = cli(build, url, "agents")
    line = [l for l in out.splitlines() if l.startswith(agent_id) and host in l]
    check("cli_agents_table", rc == 0 and len(line) == 1 and
          re.search(r" ok +4 +- +7 +1$", line[0]) and
          f"{agent_id}: hash chain break at batch 4: prev_mismatch" in out,
          f"rc {rc} out {out!r} err {err}")
    rc, out, err = cli(build, url, "agents", "--json")
    try:
        a = [x for x in json.loads(out)["agents"] if x["id"] == agent_id][0]
    except (ValueError, KeyError, IndexError):
        a = {}
    check("cli_agents_json", a.get("batches_missing") == [] and a.get("batches_received") == 4
          and [(b["seq"], b["kind"]) for b in a.get("chain_breaks", [])] == [(4, "prev_mismatch")],
          f"agent {a}")

    rc, out, err = cli(build, url, "agents", "revoke", agent_id)
    check("cli_revoke", rc == 0 and "revoked agent " + agent_id in out, f"rc {rc} {out} {err}")
    b5, _ = batch(5, b"\x55" * 32, [], host, boot)
    st, body = coll.post("/v1/events", b5, key)
    check("revoked_key_401", st == 401, f"status {st}")

    rc, out, err = cli(build, url, "sessions", token="not-the-token")
    check("cli_wrong_token", rc == 1 and "401" in err and "AITRAIL_TOKEN" in err,
          f"rc {rc} err {err!r}")
    with socket.socket() as s_:
        s_.bind(("127.0.0.1", 0))
        dead = s_.getsockname()[1]
    rc, out, err = cli(build, f"http://127.0.0.1:{dead}", "agents")
    check("cli_unreachable", rc == 1 and "failed to reach the collector" in err,
          f"rc {rc} err {err!r}")
    rc, out, err = cli(build, url, "sessions", "--since", "last tuesday")
    check("cli_bad_since", rc == 2 and "--since last tuesday" in err, f"rc {rc} err {err!r}")
    rc, out, err = cli(build, url, "timeline", "--session", "no-such-session")
    check("cli_unknown_session", rc == 1 and "no session no-such-session" in err,
          f"rc {rc} err {err!r}")
    rc, out, err = cli(build, url, "events")
    check("cli_events_needs_session", rc == 2 and "--session" in err, f"rc {rc} err {err!r}")
    env = dict(os.environ, AITRAIL_SERVER=url, AITRAIL_TOKEN="e2e-admin")
    p = subprocess.run([os.path.join(build, "aitrail"), "sessions", "--host", host],
                       capture_output=True, text=True, env=env, timeout=30)
    check("cli_env_server_token", p.returncode == 0 and sid in p.stdout,
          f"rc {p.returncode} {p.stderr}")
    rc, out, err = cli(build, url, "stats")
    check("cli_stats", rc == 0 and re.search(r"^batches_stored +4$", out, re.M) and
          re.search(r"^  revoked +1$", out, re.M) and re.search(r"^  unauthorized +2$", out, re.M),
          f"rc {rc} out {out!r} err {err!r}")
    check("collector_alive", coll.proc.poll() is None, "collector exited")


if __name__ == "__main__":
    sys.exit(main())
