# SPDX-License-Identifier: Apache-2.0
"""A file_write deny rule, enforced by whatever mechanism the agent picked on this kernel: a
session's write-open of a protected file is stopped (EPERM under BPF LSM; the process killed
under the tracepoint fallback) and recorded with that mechanism. The LSM-only guarantees (the
file untouched, `..` and symlinks) are the lsm_file_deny check's."""
import os
import signal

from _vmutil import actor, decisions, finish

FEATURE = "file_deny"
TITLE = "file deny (policy)"


def policy(ctx):
    ctx.prot = os.path.realpath(ctx.path("prot"))
    os.makedirs(ctx.prot)
    with open(os.path.join(ctx.prot, "keep.txt"), "w") as f:
        f.write("original\n")
    return ["{id: vm-file-deny, category: file_write, action: deny, match: {path: \"%s/**\"}}"
            % ctx.prot]


def act(ctx):
    s = actor(ctx, "claude")
    out = finish(s, "write %s/keep.txt\n" % ctx.prot)
    with open(os.path.join(ctx.prot, "keep.txt")) as f:
        content = f.read()
    return s.pid, s.returncode, out, content


def judge(ctx, state):
    pid, rc, out, content = state
    mech, why = ctx.file_mech
    d = decisions(ctx, pid, "vm-file-deny")
    target = os.path.join(ctx.prot, "keep.txt")
    ctx.note("mechanism", "%s, protected file %s" % (
        mech or "?", "untouched" if content == "original\n" else "truncated before the kill"))
    if mech == "lsm":
        ctx.check("file deny: the write-open gets EPERM, the process lives on",
                  out.endswith("write -1") and rc == 0, "reply %r rc %s" % (out, rc))
        ctx.check("file deny: recorded as blocked by lsm on the canonical path",
                  len(d) == 1 and d[0].get("outcome") == "blocked" and
                  d[0].get("mechanism") == "lsm" and d[0].get("target") == target, str(d)[:500])
        ctx.check("file deny: the protected file keeps its content", content == "original\n",
                  repr(content))
        return
    ctx.check("file deny: the agent names its file mechanism and why", mech and why,
              "no 'policy enforcement:' line: %s" % ctx.agent_log[-500:])
    ctx.check("file deny (%s): the session process is killed" % mech,
              rc == -signal.SIGKILL, "rc %s reply %r" % (rc, out))
    ctx.check("file deny (%s): recorded as killed on the protected path" % mech,
              len(d) == 1 and d[0].get("outcome") == "killed" and
              d[0].get("mechanism") == mech and d[0].get("target") == target, str(d)[:500])
