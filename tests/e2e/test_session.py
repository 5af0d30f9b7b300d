#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Session tracking end to end: signature matches in the kernel (comm, interpreter argv, env
marker), the /proc scan, attribution of every descendant (double fork included), nested agents,
exit codes, a neutral control process that must produce nothing, clean SIGTERM."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402


def first(events, **kw):
    for e in events:
        if all(e.get(k) == v for k, v in kw.items()):
            return e
    return None


def main():
    t = lib.Test("session")
    agent_bin = os.path.join(t.build, "aitrail-agent")

    # --- usage errors need no root and no kernel
    r = lib.run([agent_bin, "--bogus"])
    t.check("unknown option exits 2 with a message",
            r.rc == 2 and "--bogus" in r.err, "rc %s, stderr %r" % (r.rc, r.err[-300:]))
    r = lib.run([agent_bin, "--output", "xml"])
    t.check("bad --output value exits 2 with a message",
            r.rc == 2 and "xml" in r.err and "json" in r.err,
            "rc %s, stderr %r" % (r.rc, r.err[-300:]))

    bad = t.path("bad.yaml")
    with open(bad, "w") as f:
        f.write("output: json\nno_such_key: 1\n")
    r = lib.run([agent_bin, "--config", bad])
    t.check("bad config file exits 2 naming FILE:LINE",
            r.rc == 2 and (bad + ":2") in r.err, "rc %s, stderr %r" % (r.rc, r.err[-300:]))

    claude = t.fixture("claude")
    codex = t.fixture("codex")
    worker = t.fixture("worker")
    envchild = t.fixture("envchild")
    scanned = t.fixture("claude", subdir="pre")
    node = t.fixture("node", subdir="bin")
    py = t.fixture("python3", subdir="bin")
    pkg = t.path("node_modules", "@anthropic-ai", "claude-code")
    os.makedirs(pkg)
    cli_js = os.path.join(pkg, "cli.js")
    open(cli_js, "w").close()
    with open(os.path.join(pkg, "package.json"), "w") as f:
        json.dump({"name": "@anthropic-ai/claude-code", "version": "9.8.7-test"}, f)
    aider_py = t.path("venv", "bin", "aider.py")
    os.makedirs(os.path.dirname(aider_py))
    open(aider_py, "w").close()

    native = t.fixture("1.2.3", subdir=os.path.join("share", "claude", "versions"))
    os.makedirs(t.path("bin2"))
    native_link = t.path("bin2", "claude")
    os.symlink(native, native_link)

    # a session already running when the agent starts: found by the /proc scan
    go = t.path("go")
    pre = subprocess.Popen([scanned, "wait-file", go, "exec-shell", t.path("pre-out"), "exit", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.3)

    agent = lib.Agent(t.build)
    try:
        agent.start()
        open(go, "w").close()
        pre_out, _ = pre.communicate(timeout=30)
        rc_claude = lib.run([claude, "exec-shell", t.path("out1"), "double-fork", "exit", "3"])
        rc_codex = lib.run([codex, "run", claude, "exit", "0", "--", "exit", "0"])
        rc_node = lib.run([node, cli_js, "exit", "0"])
        rc_py = lib.run([py, aider_py, "exit", "0"])
        env = dict(os.environ, CLAUDECODE="1")
        rc_env = lib.run([envchild, "exec-shell", t.path("out3"), "exit", "0"], env=env)
        rc_ctl = lib.run([worker, "exec-shell", t.path("out2"), "double-fork", "exit", "0"])
        rc_native = lib.run([native_link, "exit", "0"])
        long_arg = "L" * 3000
        odd_arg = os.fsdecode(b"odd\xff\nname\"q")
        rc_args = lib.run([claude, "run", "/bin/true", long_arg, "--", "run", "/bin/echo",
                           odd_arg, "--", "exit", "0"])
        agent.proc.send_signal(1)  # SIGHUP: reload hooks, the agent keeps running
        time.sleep(0.3)
        hup_alive = agent.proc.poll() is None
        time.sleep(0.5)
    finally:
        rc = agent.stop()
        if pre.poll() is None:
            pre.kill()
            pre.wait()
    ev = agent.events

    # --- claude by comm: start, exec of the shell, exits, grandchild after its parent died
    pid = rc_claude.pid
    s = lib.session_events(ev, pid)
    st = first(s, type="session_start")
    t.check("claude: session_start by comm", st and st["session"]["tool"] == "claude"
            and st.get("matched_by") == "comm" and st["proc"]["pid"] == pid,
            "no session_start for pid %d: %s" % (pid, st))
    sh_pid = rc_claude.field("exec-shell", "pid")
    sh = first(s, type="exec", exe="/bin/sh")
    t.check("claude: exec of the shell with argv", sh and sh["proc"]["pid"] == sh_pid
            and sh["argv"][:2] == ["sh", "-c"] and t.path("out1") in sh["argv"][2],
            "exec event: %s" % sh)
    t.check("claude: exec has the cwd", sh and sh.get("cwd") == os.getcwd(),
            "cwd %r, expected %r" % (sh and sh.get("cwd"), os.getcwd()))
    ex = [e for e in s if e["type"] == "exit" and e["proc"]["pid"] == sh_pid]
    t.check("claude: shell exit code 0", len(ex) == 1 and ex[0]["exit_code"] == 0, str(ex))
    ex = [e for e in s if e["type"] == "exit" and e["proc"]["pid"] == pid]
    t.check("claude: root exit code 3", len(ex) == 1 and ex[0]["exit_code"] == 3, str(ex))
    end = first(s, type="session_end")
    t.check("claude: session_end with exit code and counts",
            end and end["exit_code"] == 3 and end["counts"]["execs"] >= 3
            and end["counts"]["processes"] >= 4, str(end))
    t.check("claude: session_end names the root process like session_start",
            end and st and end.get("proc", {}).get("pid") == pid and
            all(end["proc"].get(k) == st["proc"].get(k) for k in ("ppid", "uid", "user", "comm",
                                                                    "exe")),
            "end %s, start %s" % (end and end.get("proc"), st and st.get("proc")))
    gpid = rc_claude.field("double-fork", "grandchild")
    cpid = rc_claude.field("double-fork", "child")
    g = [e for e in s if e["type"] == "exec" and e["proc"]["pid"] == gpid]
    cexit = [e for e in s if e["type"] == "exit" and e["proc"]["pid"] == cpid]
    t.check("claude: double-forked grandchild attributed after its parent exited",
            len(g) == 1 and g[0]["exe"] == "/bin/true" and len(cexit) == 1
            and g[0]["seq"] > cexit[0]["seq"] and g[0]["proc"]["ppid"] != cpid,
            "grandchild %s exec %s, child exit %s" % (gpid, g, cexit))

    # --- codex, with a nested claude
    s = lib.session_events(ev, rc_codex.pid)
    st = first(s, type="session_start")
    t.check("codex: session_start", st and st["session"]["tool"] == "codex", str(st))
    npid = rc_codex.field("run", "pid")
    nested = [e for e in s if e["type"] == "exec" and e["proc"]["pid"] == npid]
    t.check("codex: nested claude stays in the codex session, flagged",
            len(nested) == 1 and nested[0].get("nested_tool") == "claude"
            and nested[0]["session"]["tool"] == "codex", str(nested))
    t.check("codex: nested claude starts no session of its own",
            not [e for e in ev if e["type"] == "session_start"
                 and e["session"]["root_pid"] == npid], "it did")

    # --- interpreters
    st = first(lib.session_events(ev, rc_node.pid), type="session_start")
    t.check("node + claude-code argv: session_start claude by argv",
            st and st["session"]["tool"] == "claude" and st["matched_by"] == "argv", str(st))
    t.check("node + claude-code argv: tool_version from package.json",
            st and st.get("tool_version") == "9.8.7-test", str(st and st.get("tool_version")))
    st = first(lib.session_events(ev, rc_py.pid), type="session_start")
    t.check("python3 + aider argv: session_start aider by argv",
            st and st["session"]["tool"] == "aider" and st["matched_by"] == "argv", str(st))

    st = first(lib.session_events(ev, rc_native.pid), type="session_start")
    t.check("native install: tool_version from versions/<version>",
            st and st["session"]["tool"] == "claude" and st.get("tool_version") == "1.2.3",
            str(st))
    t.check("SIGHUP does not stop the agent", hup_alive, "agent exited on SIGHUP")

    s = lib.session_events(ev, rc_args.pid)
    tr = [e for e in s if e["type"] == "exec" and e.get("exe") == "/bin/true"]
    t.check("argv longer than 2 KiB: cut, flagged in truncated",
            len(tr) == 1 and "argv" in tr[0].get("truncated", [])
            and 0 < len(tr[0]["argv"][-1]) < 3000, str(tr)[:300])
    stats = [e for e in ev if e["type"] == "agent_stats" and e.get("final")]
    t.check("argv truncation counted in agent_stats", stats
            and stats[0]["lost"]["argv_trunc"] >= 1, str(stats[:1])[:300])
    ec = [e for e in s if e["type"] == "exec" and e.get("exe") == "/bin/echo"]
    t.check("odd bytes in argv survive JSON (\\u00ff, newline, quote)",
            len(ec) == 1 and ec[0]["argv"][1] == "odd\u00ff\nname\"q", str(ec)[:300])

    # --- environment marker
    st = first(lib.session_events(ev, rc_env.pid), type="session_start")
    t.check("CLAUDECODE=1 process: session_start claude by env",
            st and st["session"]["tool"] == "claude" and st["matched_by"] == "env", str(st))
    sh = [e for e in lib.session_events(ev, rc_env.pid) if e["type"] == "exec"
          and e["proc"]["pid"] == rc_env.field("exec-shell", "pid")]
    t.check("child inheriting the marker is in the session, not a nested agent",
            len(sh) == 1 and "nested_tool" not in sh[0], str(sh))

    # --- /proc scan
    s = lib.session_events(ev, pre.pid)
    st = first(s, type="session_start")
    t.check("running session found by the /proc scan",
            st and st["matched_by"] == "scan" and st["session"]["tool"] == "claude", str(st))
    spid = None
    for line in pre_out.decode().splitlines():
        if line.startswith("exec-shell "):
            spid = int(line.split()[1].split("=")[1])
    t.check("scanned session: later exec attributed",
            any(e["type"] == "exec" and e["proc"]["pid"] == spid for e in s),
            "no exec of pid %s in %d events" % (spid, len(s)))

    # --- control: same program, neutral name, nothing at all
    ctl = rc_ctl.pid
    leaked = [e for e in ev if e.get("proc", {}).get("pid") == ctl
              or e.get("proc", {}).get("ppid") == ctl
              or e.get("session", {}).get("root_pid") == ctl]
    t.check("control process under a neutral name produces no events", not leaked,
            "%d events, first %s" % (len(leaked), leaked[:1]))

    # --- shutdown
    last = ev[-1] if ev else {}
    t.check("SIGTERM: exit 0 and a final agent_stats", rc == 0
            and last.get("type") == "agent_stats" and last.get("final") is True
            and "lost" in last, "rc %s, last event %s" % (rc, last))
    seqs = [e["seq"] for e in ev]
    t.check("event seq gapless from 1", seqs == list(range(1, len(seqs) + 1)),
            "seqs %s..." % seqs[:10])
    if t.failed:
        print(agent.log()[-3000:])
    agent.cleanup()

    # --- a reader that goes away: the agent says so and keeps running
    errlog = t.path("broken.log")
    with open(errlog, "wb") as ef:
        p = subprocess.Popen([agent_bin, "--output", "json"], stdout=subprocess.PIPE, stderr=ef)
        try:
            lib.wait_for(lambda: " ready: " in open(errlog).read(), timeout=60)
            p.stdout.close()
            lib.run([claude, "exec-shell", t.path("out4"), "exit", "0"])
            time.sleep(0.5)
            alive = p.poll() is None
        finally:
            p.send_signal(15)
            prc = p.wait(timeout=30)
    log = open(errlog).read()
    t.check("closed stdout: clear error, agent keeps running, exits 0 on SIGTERM",
            alive and prc == 0 and "failed to write events to stdout" in log,
            "alive %s rc %s log %r" % (alive, prc, log[-500:]))
    t.finish()


if __name__ == "__main__":
    main()
