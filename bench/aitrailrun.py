# SPDX-License-Identifier: Apache-2.0
"""The aitrail side: agent + collector on loopback, the same loops and job, pipeline capacity,
agent resources at a developer-like rate, and per-program kernel cost from bpf_stats."""
import json
import os
import socket
import subprocess
import time

import benchlib as bl

STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"
TOKEN = "bench-enroll-token"
ADMIN = "bench-admin-token"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, timeout, what, proc=None, log=None):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            tail = ""
            if log:
                with open(log, errors="replace") as f:
                    tail = f.read()[-600:]
            raise RuntimeError("%s exited with %d before %s: %s" % (proc.args[0], proc.returncode,
                                                                    what, tail.strip()))
        time.sleep(0.1)
    raise RuntimeError("timed out after %d s waiting for %s" % (timeout, what))


class Stack:
    """A collector (SQLite) and an agent shipping to it, both started and stopped by us."""

    def __init__(self, build, tmp, cleanup):
        self.build, self.dir, self.cleanup = build, os.path.join(tmp, "stack"), cleanup
        os.makedirs(self.dir, exist_ok=True)
        self.agent_bin = os.path.join(build, "aitrail-agent")
        self.coll_bin = os.path.join(build, "aitrail-collector")
        self.cli_bin = os.path.join(build, "aitrail")
        self.db = os.path.join(self.dir, "events.db")
        self.agent = self.coll = None

    def missing(self):
        return [b for b in (self.agent_bin, self.coll_bin) if not os.access(b, os.X_OK)]

    def start_collector(self):
        self.port = free_port()
        log = os.path.join(self.dir, "collector.log")
        self.coll = subprocess.Popen(
            [self.coll_bin, "--listen", "127.0.0.1:%d" % self.port, "--db", self.db,
             "--enroll-token", TOKEN, "--admin-token", ADMIN],
            stdout=open(log, "w"), stderr=subprocess.STDOUT)
        self.cleanup.add(lambda: bl.stop_process(self.coll))

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        wait_for(up, 20, "the collector to listen", self.coll, log)

    def start_agent(self):
        cfg = os.path.join(self.dir, "agent.yaml")
        with open(cfg, "w") as f:
            f.write("output: none\nstats_interval_s: 1\nstate_dir: %s/state\n"
                    "signatures:\n  mode: replace\n  interpreters: []\n"
                    "  tools:\n    - tool: claude\n      names: [%s]\n"
                    "collector:\n  url: http://127.0.0.1:%d\n  enroll_token: %s\n" %
                    (self.dir, bl.SESSION_NAME, self.port, TOKEN))
        self.agent_log = os.path.join(self.dir, "agent.log")
        self.agent = subprocess.Popen([self.agent_bin, "--config", cfg, "--output", "none"],
                                      stdout=subprocess.DEVNULL,
                                      stderr=open(self.agent_log, "w"))
        self.cleanup.add(self.stop_agent)

        def ready():
            with open(self.agent_log, errors="replace") as f:
                return "ready" in f.read()
        wait_for(ready, 60, "the agent to be ready", self.agent, self.agent_log)

    def stop_agent(self):
        if self.agent is not None and self.agent.poll() is None:
            rc = bl.stop_process(self.agent, timeout=20)
            if rc != 0:
                bl.progress("agent exited with %s on SIGTERM, see %s" % (rc, self.agent_log))

    # --- the store, read-only: counts per session root pid
    def store_count(self, root_pid, etype=None):
        """Events of the session whose root is root_pid, in the collector's store."""
        con = sqlite3_connect(self.db)
        try:
            sql = ("SELECT COUNT(*) FROM events e JOIN sessions s ON e.session_id = s.id "
                   "WHERE s.root_pid = ?")
            args = [root_pid]
            if etype:
                sql += " AND e.type = ?"
                args.append(etype)
            return con.execute(sql, args).fetchone()[0]
        finally:
            con.close()


def delivery(stack, loops, sessions=None, wait_s=30):
    """Did the session loops' events reach the store? Each open-wr call is one file_open and
    each connect call one net_connect; waits up to wait_s for the pipeline to drain. Returns
    the counts and the session ids they came from, so a later recount covers the same ones."""
    # the write loop opens its file once per process, with write intent: one file_open each
    want = {"file_open": loops["open-wr"]["calls"] + loops["write"]["procs"],
            "net_connect": loops["connect"]["calls"]}
    end, got = time.time() + wait_s, {}
    while True:
        con = sqlite3_connect(stack.db)
        try:
            if sessions is None:
                ids = [r[0] for r in con.execute(
                    "SELECT DISTINCT e.session_id FROM events e JOIN sessions s ON "
                    "e.session_id = s.id WHERE s.tool = 'claude' AND e.exe LIKE '%%/%s'" %
                    bl.SESSION_NAME)]
            else:
                ids = sessions
            got = {}
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                for t, n in con.execute(
                        "SELECT type, COUNT(*) FROM events WHERE session_id IN (%s) AND type IN "
                        "('file_open', 'net_connect') GROUP BY type" %
                        ",".join("?" * len(chunk)), chunk):
                    got[t] = got.get(t, 0) + n
        finally:
            con.close()
        if all(got.get(k, 0) >= v for k, v in want.items()) or time.time() > end:
            break
        time.sleep(1)
    return {k: {"calls": v, "stored": got.get(k, 0)} for k, v in want.items()}, ids


def sqlite3_connect(path):
    import sqlite3
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    con.execute("PRAGMA busy_timeout = 10000")
    return con


# --- kernel counters and BPF run-time statistics, read with bpftool

def bpftool_json(*args):
    p = subprocess.run(["bpftool", "-j"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError("failed to run bpftool %s: %s" % (" ".join(args), p.stderr.strip()))
    return json.loads(p.stdout or "[]")


def owned_ids(pid):
    """The BPF program and map ids a process holds open, from /proc/PID/fdinfo (bpftool's own
    pid lookup needs a BPF iterator Debian's bpftool is built without)."""
    progs, maps = set(), set()
    fd_dir = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fd_dir):
        try:
            with open(os.path.join(fd_dir, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        progs.add(int(line.split()[1]))
                    elif line.startswith("map_id:"):
                        maps.add(int(line.split()[1]))
        except OSError:
            pass  # closed meanwhile
    return progs, maps


def prog_stats(pid):
    ids, _ = owned_ids(pid)
    out = {}
    for p in bpftool_json("prog", "show"):
        if p["id"] in ids:
            name = p.get("name", "id%d" % p["id"])
            out[name] = (p.get("run_time_ns", 0), p.get("run_cnt", 0))
    return out


def prog_delta(a, b):
    d = {}
    for name, (t1, c1) in b.items():
        t0, c0 = a.get(name, (0, 0))
        runs = c1 - c0
        d[name] = {"runs": runs, "ns_per_run": (t1 - t0) / runs if runs else 0}
    return d


def _num(v):
    """bpftool prints integers, or byte lists (hex strings) when the map has no BTF."""
    if isinstance(v, list):
        return int.from_bytes(bytes(int(x, 16) for x in v), "little")
    return int(v)


def loss_counters(pid):
    """Sum over CPUs of the agent's `counters` map: {index: value}."""
    _, ids = owned_ids(pid)
    for m in bpftool_json("map", "show"):
        if m.get("name") == "counters" and m["id"] in ids:
            vals = {}
            for e in bpftool_json("map", "dump", "id", str(m["id"])):
                vals[_num(e["key"])] = sum(_num(v["value"]) for v in e.get("values", []))
            return vals
    raise RuntimeError("failed to find the agent's counters map")


class BpfStats:
    """kernel.bpf_stats_enabled=1 for the aitrail phase only; the old value comes back after."""

    def __init__(self, cleanup):
        with open(STATS_SYSCTL) as f:
            self.prev = f.read().strip()
        cleanup.add(self.restore)
        with open(STATS_SYSCTL, "w") as f:
            f.write("1")

    def restore(self):
        with open(STATS_SYSCTL, "w") as f:
            f.write(self.prev)


# --- pipeline capacity

RATE_STEPS = [(5000, 3, 1), (10000, 3, 1), (20000, 3, 1), (50000, 3, 1), (100000, 3, 1),
              (200000, 3, 2), (300000, 3, 2)]
AT_CNT_RB_FILE_FULL = 1
AT_CNT_PENDING_FULL = 8


def rate_step(stack, session_bin, tmp, rate, seconds, procs):
    d = os.path.join(tmp, "rate-%d" % rate)
    os.makedirs(d, exist_ok=True)
    apid, cpid = stack.agent.pid, stack.coll.pid
    c0 = loss_counters(apid)
    cpu0, ccpu0, t0 = bl.proc_cpu_s(apid), bl.proc_cpu_s(cpid), time.time()
    p = subprocess.Popen([session_bin, "rate", str(rate), str(seconds), d, str(procs)],
                         stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate(timeout=seconds + 60)
    t_end = time.time()
    cpu1 = bl.proc_cpu_s(apid)
    r = json.loads(out.strip().splitlines()[-1])
    step = {"target_per_s": rate, "procs": procs, "ops": r["ops"],
            "achieved_per_s": r["achieved_per_s"],
            "agent_cpu_pct": 100 * (cpu1 - cpu0) / (t_end - t0)}
    # Wait for the store: done when it holds every file event, or stops growing for 5 s.
    last, last_change, stored, lag = -1, time.time(), 0, None
    while time.time() - last_change < 5 and time.time() - t_end < 120:
        stored = stack.store_count(p.pid, "file_open")
        if stored >= r["ops"]:
            lag = time.time() - t_end
            break
        if stored != last:
            last, last_change = stored, time.time()
        time.sleep(0.2)
    c1 = loss_counters(apid)
    step["collector_cpu_pct"] = 100 * (bl.proc_cpu_s(cpid) - ccpu0) / (time.time() - t0)
    step["stored"] = stored
    step["lag_s"] = lag
    step["lost_kernel"] = (c1.get(AT_CNT_RB_FILE_FULL, 0) - c0.get(AT_CNT_RB_FILE_FULL, 0) +
                           c1.get(AT_CNT_PENDING_FULL, 0) - c0.get(AT_CNT_PENDING_FULL, 0))
    if lag is not None:
        step["e2e_per_s"] = stored / (t_end - t0 + lag)
    return step


KEEP_PACE_S = 2.5


def pipeline(stack, session_bin, tmp):
    """Steps up the offered rate. A step is sustained when every event reached the store and
    the store kept pace: it held them all at most KEEP_PACE_S after the session stopped (the
    agent cuts a batch at least every second). Stops after the first step that is not, or when
    the session itself cannot offer more."""
    steps, best, breaks = [], None, ""
    for rate, seconds, procs in RATE_STEPS:
        s = rate_step(stack, session_bin, tmp, rate, seconds, procs)
        steps.append(s)
        bl.progress("  rate %d/s: achieved %.0f/s, stored %d of %d, kernel lost %d, lag %s" % (
            rate, s["achieved_per_s"], s["stored"], s["ops"], s["lost_kernel"],
            "%.1fs" % s["lag_s"] if s["lag_s"] is not None else "never"))
        lossless = s["stored"] == s["ops"] and s["lost_kernel"] == 0
        kept_pace = lossless and s["lag_s"] is not None and s["lag_s"] <= KEEP_PACE_S
        s["sustained"] = kept_pace
        if kept_pace:
            best = s["achieved_per_s"]
            if s["achieved_per_s"] < 0.8 * rate:
                breaks = ("Beyond it the session itself cannot offer more on this machine "
                          "(achieved %.0f/s of %d/s offered)" % (s["achieved_per_s"], rate))
                break
            continue
        why = []
        if s["lost_kernel"]:
            why.append("%d records lost in the kernel (ring buffer or pending map full)" %
                       s["lost_kernel"])
        if s["stored"] < s["ops"]:
            why.append("the store received %d of %d file events" % (s["stored"], s["ops"]))
        if lossless:
            why.append("the store falls behind: %.0f events/s end to end for %.0f/s offered; "
                       "the backlog waits in the agent's spool (drained %.1f s after the "
                       "session stopped, nothing lost); agent %.0f%% of a core, collector "
                       "%.0f%%" % (s["e2e_per_s"], s["achieved_per_s"], s["lag_s"],
                                   s["agent_cpu_pct"], s["collector_cpu_pct"]))
        breaks = "What breaks first at %d/s: %s" % (rate, "; ".join(why))
        break
    return {"steps": steps,
            "max_lossless": ("%.0f events/s" % best) if best else "none",
            "max_lossless_per_s": best or 0,
            "breaks_first": breaks + "." if breaks else ""}


def resources(stack, session_bin, tmp, rate=1000, seconds=10):
    d = os.path.join(tmp, "rate-dev")
    os.makedirs(d, exist_ok=True)
    apid, cpid = stack.agent.pid, stack.coll.pid
    a0, c0, t0 = bl.proc_cpu_s(apid), bl.proc_cpu_s(cpid), time.time()
    r = bl.run_json([session_bin, "rate", str(rate), str(seconds), d])[-1]
    t = time.time() - t0
    a1, c1 = bl.proc_cpu_s(apid), bl.proc_cpu_s(cpid)
    rss, hwm = bl.proc_rss_mib(apid)
    crss, _ = bl.proc_rss_mib(cpid)
    # The figures mean something only if the events really flowed: wait for the store.
    end, stored = time.time() + 30, 0
    while time.time() < end:
        stored = stack.store_count(r["pid"], "file_open")
        if stored >= r["ops"]:
            break
        time.sleep(0.5)
    if stored == 0:
        raise RuntimeError("no file_open event of the paced session reached the store "
                           "(%d file creations)" % r["ops"])
    return {"rate": rate, "seconds": seconds, "ops": r["ops"], "stored": stored,
            "agent_cpu_pct": 100 * (a1 - a0) / t,
            "agent_rss_mib": rss, "agent_hwm_mib": hwm,
            "collector_cpu_pct": 100 * (c1 - c0) / t, "collector_rss_mib": crss}


def run(build, tmp, cleanup, loops_bin, session_bin, job, rounds, scale, skip, measure_loops,
        measure_job):
    stack = Stack(build, tmp, cleanup)
    missing = stack.missing()
    if missing:
        return {"error": "not built yet: %s" % ", ".join(os.path.basename(m) for m in missing)}
    res = {"notes": []}
    undo = bl.Cleanup()
    stack.cleanup = undo
    try:
        stack.start_collector()
        bpf = None
        try:
            bpf = BpfStats(undo)
        except OSError as e:
            res["bpf"] = {"error": "failed to enable kernel.bpf_stats_enabled: %s" % e}
        stack.start_agent()
        apid = stack.agent.pid
        phases = {}
        # Outside and inside measured apart so the kernel's per-program figures tell the cost
        # of a hook for a process it ignores from one for a process it records.
        out_cfg, in_cfg = [("untracked", loops_bin, ())], [("session", session_bin, ())]
        s0 = prog_stats(apid) if bpf else None
        res["untracked"] = {"loops": measure_loops(out_cfg, tmp, rounds, scale)["untracked"]}
        s1 = prog_stats(apid) if bpf else None
        res["session"] = {"loops": measure_loops(in_cfg, tmp, rounds, scale)["session"]}
        s2 = prog_stats(apid) if bpf else None
        res["session"]["delivery"], loop_sessions = delivery(stack, res["session"]["loops"])
        if bpf:
            phases["loops outside sessions"] = prog_delta(s0, s1)
            phases["loops in a session"] = prog_delta(s1, s2)
        if job:
            j = measure_job(out_cfg + in_cfg, job, rounds)
            res["untracked"]["job"], res["session"]["job"] = j["untracked"], j["session"]
            if bpf:
                phases["build job (both)"] = prog_delta(s2, prog_stats(apid))
        if "pipeline" not in skip:
            bl.progress("  agent resources at 1,000 events/s")
            try:
                res["resources"] = resources(stack, session_bin, tmp)
            except (RuntimeError, OSError) as e:
                res["resources"] = {"error": str(e)}
            bl.progress("  pipeline capacity")
            s3 = prog_stats(apid) if bpf else None
            try:
                res["pipeline"] = pipeline(stack, session_bin, tmp)
            except (RuntimeError, OSError, ValueError) as e:
                res["pipeline"] = {"error": str(e)}
            if bpf:
                phases["pipeline"] = prog_delta(s3, prog_stats(apid))
        if bpf:
            res["bpf"] = {"phases": phases}
        # Recount the session loops' events minutes later: tells lag from loss.
        short = [k for k, v in res["session"]["delivery"].items() if v["stored"] < v["calls"]]
        if short:
            res["session"]["delivery_recount"], _ = delivery(
                stack, res["session"]["loops"], loop_sessions, wait_s=0)
        # The agent's own account at exit: every loss counter, user space included.
        stack.stop_agent()
        with open(stack.agent_log, errors="replace") as f:
            finals = [l.strip() for l in f if " stats: " in l]
        if finals:
            res["agent_final_stats"] = finals[-1].split(" stats: ", 1)[1]
            res["notes"].append("agent at exit: " + res["agent_final_stats"])
    except (RuntimeError, OSError) as e:
        res["error"] = str(e)
    finally:
        undo.run()
    return res
