# SPDX-License-Identifier: Apache-2.0
"""Helpers the policy checks share: polact sessions in the runner's cgroup, decisions."""
import subprocess


def actor(ctx, name, session=True, cwd=None):
    """polact named `name` in the test cgroup; when a session, returns once the agent has
    reported its session_start (so the agent has seen it before it acts)."""
    exe = ctx.fixture(name, src="polact")
    p = subprocess.Popen([exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         preexec_fn=ctx.in_cgroup(), cwd=cwd)
    if session:
        ctx.wait_event(lambda e: e.get("type") == "session_start" and
                       e.get("proc", {}).get("pid") == p.pid)
    return p


def ask(p, line):
    p.stdin.write(line + "\n")
    p.stdin.flush()
    return p.stdout.readline().strip()


def finish(p, rest=""):
    """Sends the last commands, closes stdin, returns everything the actor printed after."""
    try:
        out, _ = p.communicate(rest, timeout=60)
    except BrokenPipeError:
        out = p.stdout.read()
        p.wait(60)
    return out.strip()


def decisions(ctx, pid, rule):
    return [e for e in ctx.events if e.get("type") == "policy_decision" and
            e.get("proc", {}).get("pid") == pid and e.get("rule_id") == rule]


def lsm_gate(ctx):
    """True when the agent enforces files and exec by BPF LSM here. Otherwise records why the
    check can't run: "not built" (the kernel offers BPF LSM, the agent doesn't use it) or the
    boot has no BPF LSM (the fallback's behaviour is the file_deny check's)."""
    mech, why = ctx.file_mech
    if mech == "lsm":
        return True
    if "bpf" in ctx.lsm.split(","):
        ctx.notrun("%s: enforcement by BPF LSM" % ctx.feature,
                   "not built: BPF LSM is active here but the agent enforces by %s (%s)"
                   % (mech, why))
    else:
        ctx.notrun("%s: enforcement by BPF LSM" % ctx.feature,
                   "no BPF LSM in this boot (lsm=%s): the agent falls back to %s" % (ctx.lsm, mech))
    return False
