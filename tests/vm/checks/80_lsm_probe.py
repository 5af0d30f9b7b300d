# SPDX-License-Identifier: Apache-2.0
"""The agent's BPF LSM probe against this boot's LSM list: with `bpf` in the list it must find
BPF LSM usable; booted without it (lsm=... on the kernel command line) it must say so and fall
back, naming the reason. Either way the start line names the file mechanism and why."""
FEATURE = "lsm_probe"
TITLE = "BPF LSM probe, fallback"


def act(ctx):
    return None


def judge(ctx, state):
    mech, why = ctx.file_mech
    active = "bpf" in ctx.lsm.split(",")
    ctx.note("mechanism", "%s: %s" % ("bpf in the LSM list" if active else "no bpf in the LSM list",
                                      why))
    if not ctx.check("lsm probe: the start line names the file mechanism and why", mech and why,
                     ctx.agent_log[-800:]):
        return
    if active:
        ctx.check("lsm probe: bpf in the LSM list (%s): found usable" % ctx.lsm,
                  mech == "lsm" or why.startswith("BPF LSM is available"), why)
    else:
        ctx.check("lsm probe: no bpf in the LSM list (%s): falls back, says why" % ctx.lsm,
                  mech != "lsm" and "not in the active LSM list" in why, "%s (%s)" % (mech, why))
