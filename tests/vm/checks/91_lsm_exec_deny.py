# SPDX-License-Identifier: Apache-2.0
"""BPF LSM exec deny (issue 13): a session's exec of a denied program fails with EPERM and the
program never runs (the marker it would create is absent); the attempt is a policy_decision
with mechanism lsm. Runs only where the agent enforces exec by lsm; elsewhere it is reported
not run ("not built" while the agent has no LSM programs), never passed."""
import os
import shutil

from _vmutil import actor, decisions, finish, lsm_gate

FEATURE = "lsm_exec_deny"
TITLE = "BPF LSM exec deny"


def policy(ctx):
    os.makedirs(ctx.path("bin"))
    ctx.denied = os.path.realpath(ctx.path("bin", "denied"))
    shutil.copy2(os.path.join(ctx.build, "tests", "fixtures", "agentfix"), ctx.denied)
    return ["{id: vm-lsm-exec, category: exec, action: deny, match: {program: \"%s\"}}"
            % ctx.denied]


def act(ctx):
    if not lsm_gate(ctx):
        return None
    marker = ctx.path("ran")
    s = actor(ctx, "claude")
    out = finish(s, "execself %s touch %s\n" % (ctx.denied, marker))
    return s.pid, s.returncode, out, os.path.exists(marker)


def judge(ctx, state):
    if state is None:
        return
    pid, rc, out, ran = state
    ctx.check("lsm exec: the exec gets EPERM and the program never runs",
              out == "execself -1" and not ran, "reply %r rc %s ran %s" % (out, rc, ran))
    d = decisions(ctx, pid, "vm-lsm-exec")
    ctx.check("lsm exec: a policy_decision, mechanism lsm, outcome blocked",
              len(d) == 1 and d[0].get("mechanism") == "lsm" and
              d[0].get("outcome") == "blocked", str(d)[:500])
