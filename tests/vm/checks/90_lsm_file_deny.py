# SPDX-License-Identifier: Apache-2.0
"""BPF LSM file deny (issue 13): a protected file keeps its exact content after a session's
O_TRUNC opens by absolute path, through `..` and through a symlinked directory, an unlink
fails with EPERM, and each attempt is a policy_decision with mechanism lsm on the canonical
path. Runs only where the agent enforces files by lsm; elsewhere it is reported not run
("not built" while the agent has no LSM programs), never passed."""
import os

from _vmutil import actor, ask, decisions, finish, lsm_gate

FEATURE = "lsm_file_deny"
TITLE = "BPF LSM file deny"
CONTENT = "original, must survive\n"


def policy(ctx):
    ctx.prot = os.path.realpath(ctx.path("prot"))
    os.makedirs(ctx.prot)
    os.makedirs(ctx.path("src"))
    os.symlink(ctx.prot, ctx.path("plink"))
    with open(os.path.join(ctx.prot, "keep.txt"), "w") as f:
        f.write(CONTENT)
    return ["{id: vm-lsm-file, category: file_write, action: deny, match: {path: \"%s/**\"}}"
            % ctx.prot]


def act(ctx):
    if not lsm_gate(ctx):
        return None
    s = actor(ctx, "claude", cwd=ctx.path("src"))
    replies = [ask(s, "write %s/keep.txt" % ctx.prot), ask(s, "write ../prot/keep.txt"),
               ask(s, "write %s/keep.txt" % ctx.path("plink")),
               ask(s, "unlink %s/keep.txt" % ctx.prot)]
    finish(s)
    with open(os.path.join(ctx.prot, "keep.txt")) as f:
        content = f.read()
    return s.pid, s.returncode, replies, content


def judge(ctx, state):
    if state is None:
        return
    pid, rc, replies, content = state
    want = ["write -1", "write -1", "write -1", "unlink -1"]
    ctx.check("lsm file: O_TRUNC opens (absolute, .., symlinked dir) and unlink get EPERM",
              replies == want and rc == 0, "replies %s rc %s" % (replies, rc))
    ctx.check("lsm file: the protected file keeps its exact content", content == CONTENT,
              repr(content))
    d = decisions(ctx, pid, "vm-lsm-file")
    target = os.path.join(ctx.prot, "keep.txt")
    ctx.check("lsm file: each attempt a policy_decision, mechanism lsm, canonical target",
              len(d) == 4 and all(e.get("mechanism") == "lsm" and e.get("target") == target
                                  and e.get("outcome") == "blocked" for e in d), str(d)[:800])
