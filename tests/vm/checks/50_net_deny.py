# SPDX-License-Identifier: Apache-2.0
"""Network deny in a cgroup: the agent's cgroup connect hooks sit on a child cgroup the runner
made; a session there (polact named `claude`) is refused a denied port with EPERM, by syscall
and through io_uring, and each refusal is a policy_decision. An allowed port still connects,
and a process that is not a session connects to the denied port from the same cgroup."""
import os
import socket

from _vmutil import actor, ask, decisions, finish

FEATURE = "net_deny"
TITLE = "network deny in a cgroup"


def policy(ctx):
    ctx.lst = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        ctx.lst.append(s)
    ctx.deny_port = ctx.lst[0].getsockname()[1]
    ctx.ok_port = ctx.lst[1].getsockname()[1]
    return ["{id: vm-net-deny, category: network, action: deny, "
            "match: {cidr: 127.0.0.1, port: %d}}" % ctx.deny_port]


def act(ctx):
    fix = os.path.join(ctx.build, "tests", "fixtures", "agentfix")
    s = actor(ctx, "claude")
    denied = ask(s, "connect 127.0.0.1 %d" % ctx.deny_port)
    allowed = ask(s, "connect 127.0.0.1 %d" % ctx.ok_port)
    finish(s)
    u = actor(ctx, "claude")
    uring = finish(u, "execself %s uring-connect 127.0.0.1 %d\n" % (fix, ctx.deny_port))
    n = actor(ctx, "worker", session=False)
    neutral = ask(n, "connect 127.0.0.1 %d" % ctx.deny_port)
    finish(n)
    return s.pid, denied, allowed, u.pid, uring, neutral


def judge(ctx, state):
    spid, denied, allowed, upid, uring, neutral = state

    d = decisions(ctx, spid, "vm-net-deny")
    ctx.check("net deny: a session's connect to the denied port gets EPERM",
              denied == "connect -1", "reply %r" % denied)
    ctx.check("net deny: the refusal is a policy_decision (blocked, cgroup_sock_addr)",
              len(d) == 1 and d[0].get("outcome") == "blocked" and
              d[0].get("mechanism") == "cgroup_sock_addr" and
              d[0].get("target") == "127.0.0.1:%d" % ctx.deny_port, str(d)[:500])
    ctx.check("net deny: the same session's connect to another port succeeds",
              allowed == "connect 0", "reply %r" % allowed)
    d = decisions(ctx, upid, "vm-net-deny")
    ctx.check("net deny: a connect through io_uring is refused too, and recorded",
              uring.endswith("result=-1") and len(d) == 1 and d[0].get("outcome") == "blocked",
              "reply %r decisions %s" % (uring, str(d)[:300]))
    ctx.check("net deny: a process that is not a session, same cgroup, connects",
              neutral == "connect 0", "reply %r" % neutral)
    if d:
        ctx.note("mechanism", d[0].get("mechanism", "?"))


def cleanup(ctx, state):
    for s in getattr(ctx, "lst", []):
        s.close()
