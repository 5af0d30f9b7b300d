#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Nothing is lost silently: with a tiny core ring buffer and the agent stopped (SIGSTOP) while a
session runs 300 commands, the records that did not fit are counted in agent_stats.lost, the
session is still announced (late if its start record was lost), and event seqs stay gapless."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

N = 300


def main():
    t = lib.Test("session-loss")
    cfg = t.path("agent.yaml")
    with open(cfg, "w") as f:
        f.write("ring_buffers:\n  core_kb: 16\nstats_interval_s: 1\n")
    claude = t.fixture("claude")
    codex = t.fixture("codex")
    agent = lib.Agent(t.build, config=cfg)
    try:
        agent.start()
        agent.proc.send_signal(signal.SIGSTOP)
        try:
            r = lib.run([claude, "spawn-many", str(N), "exit", "0"], timeout=120)
        finally:
            agent.proc.send_signal(signal.SIGCONT)
        time.sleep(1)
        # a session whose start record is lost but whose later records fit: the ring is full
        # (agent stopped, codex floods it) when claude execs, then drained before its children
        agent.proc.send_signal(signal.SIGSTOP)
        try:
            lib.run([codex, "spawn-many", "50"], timeout=60)
            late = subprocess.Popen([claude, "sleep", "1500", "spawn-many", "3", "exit", "0"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        finally:
            agent.proc.send_signal(signal.SIGCONT)
        late.wait(timeout=30)
        time.sleep(2.5)  # a stats tick or two: the reaper ends sessions whose exit was lost
    finally:
        rc = agent.stop()
    ev = agent.events
    s = lib.session_events(ev, r.pid)
    execs = [e for e in s if e["type"] == "exec"]
    exits = [e for e in s if e["type"] == "exit"]
    starts = [e for e in s if e["type"] == "session_start"]
    final = [e for e in ev if e["type"] == "agent_stats" and e.get("final")]
    lost = final[0]["lost"]["rb_core_full"] if final else -1
    t.check("fixture ran", r.rc == 0 and r.field("spawn-many", "failed") == 0, r.err)
    t.check("agent exits 0 with final stats", rc == 0 and len(final) == 1, "rc %s" % rc)
    missing = (N + 1 - len(execs)) + (N + 1 - len(exits))
    t.check("some records did not fit (the test stresses what it means to)", missing > 0,
            "all %d execs and exits arrived; ring not small enough" % (2 * N + 2))
    t.check("every missing exec/exit is counted in lost.rb_core_full", lost >= missing,
            "missing %d events of this session, rb_core_full %d" % (missing, lost))
    t.check("the session is announced exactly once", len(starts) == 1,
            "%d session_start events" % len(starts))
    ends = [e for e in s if e["type"] == "session_end"]
    root_exit = [e for e in exits if e["proc"]["pid"] == r.pid]
    t.check("the session ends exactly once, exit marked unknown if the root's exit was lost",
            len(ends) == 1 and (root_exit or ends[0].get("truncated") == ["exit_code"]),
            "session_end events: %s, root exit seen: %s" % (ends, bool(root_exit)))
    ls = lib.session_events(ev, late.pid)
    lstart = [e for e in ls if e["type"] == "session_start"]
    t.check("lost start record: the session is announced late, before its other events",
            len(lstart) == 1 and lstart[0]["matched_by"] == "late" and ls[0] is lstart[0]
            and len([e for e in ls if e["type"] == "exec"]) == 3,
            "%d events: %s" % (len(ls), [(e["type"], e.get("matched_by")) for e in ls]))
    seqs = [e["seq"] for e in ev]
    t.check("event seq gapless", seqs == list(range(1, len(seqs) + 1)), str(seqs[:5]))
    print("info: %d execs, %d exits of %d arrived; rb_core_full %d; start matched_by %s"
          % (len(execs), len(exits), N + 1, lost, starts[0].get("matched_by") if starts else "-"))
    if t.failed:
        print(agent.log()[-2000:])
    agent.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
