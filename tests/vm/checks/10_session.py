# SPDX-License-Identifier: Apache-2.0
"""Session tracking with a fork tree: a `claude` session runs a shell and double-forks (the
grandchild execs after its parent died), exits 3; the same program under a neutral name is
not a session."""
import lib

FEATURE = "session"
TITLE = "session tracking, fork tree"


def act(ctx):
    claude = ctx.fixture("claude")
    worker = ctx.fixture("worker")
    r = lib.run([claude, "exec-shell", ctx.path("out1"), "double-fork", "exit", "3"])
    ctl = lib.run([worker, "exec-shell", ctx.path("out2"), "double-fork", "exit", "0"])
    return r, ctl


def first(events, **kw):
    return next((e for e in events if all(e.get(k) == v for k, v in kw.items())), None)


def judge(ctx, state):
    r, ctl = state
    if not ctx.check("session: fixture ran", r.rc == 3 and ctl.rc == 0,
                     "rc %s/%s %s" % (r.rc, ctl.rc, r.err[-300:])):
        return
    s = lib.session_events(ctx.events, r.pid)
    st = first(s, type="session_start")
    ctx.check("session: session_start by comm", st and st["session"]["tool"] == "claude" and
              st.get("matched_by") == "comm" and st["proc"]["pid"] == r.pid, str(st)[:500])
    sh_pid = r.field("exec-shell", "pid")
    sh = [e for e in s if e["type"] == "exec" and e["proc"]["pid"] == sh_pid]
    ctx.check("session: exec of the shell with its argv and parent",
              len(sh) == 1 and sh[0]["exe"] == "/bin/sh" and sh[0]["argv"][:2] == ["sh", "-c"]
              and sh[0]["proc"]["ppid"] == r.pid, str(sh)[:500])
    gpid = r.field("double-fork", "grandchild")
    cpid = r.field("double-fork", "child")
    g = [e for e in s if e["type"] == "exec" and e["proc"]["pid"] == gpid]
    cexit = [e for e in s if e["type"] == "exit" and e["proc"]["pid"] == cpid]
    ctx.check("session: double-forked grandchild attributed after its parent exited",
              len(g) == 1 and g[0]["exe"] == "/bin/true" and len(cexit) == 1 and
              g[0]["seq"] > cexit[0]["seq"] and g[0]["proc"]["ppid"] != cpid,
              "grandchild %s: %s; child exit %s" % (gpid, g, cexit))
    end = first(s, type="session_end")
    ctx.check("session: session_end with the exit code and counts",
              end and end["exit_code"] == 3 and end["counts"]["execs"] >= 3 and
              end["counts"]["processes"] >= 4, str(end)[:500])
    ctx.note("mechanism", "tp_btf sched_process_exec/fork/exit")
    leaked = [e for e in ctx.events if e.get("proc", {}).get("pid") == ctl.pid or
              e.get("proc", {}).get("ppid") == ctl.pid or
              e.get("session", {}).get("root_pid") == ctl.pid]
    ctx.check("session: the same program under a neutral name gives no event", not leaked,
              str(leaked[:1])[:500])
