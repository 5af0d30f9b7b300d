# SPDX-License-Identifier: Apache-2.0
"""Loss counters: after this boot's light workload the agent exits 0 on SIGTERM with a final
agent_stats whose loss counters are all present and zero, and event seq numbers have no gap."""
FEATURE = "loss"
TITLE = "loss counters"


def act(ctx):
    return None


def judge(ctx, state):
    ev = ctx.events
    ctx.check("loss: SIGTERM: exit 0", ctx.agent_rc == 0, "exit %s" % ctx.agent_rc)
    final = [e for e in ev if e.get("type") == "agent_stats" and e.get("final")]
    lost = final[-1].get("lost") if final else None
    ctx.check("loss: a final agent_stats with loss counters", isinstance(lost, dict) and
              {"rb_core_full", "rb_file_full", "decode_errors"} <= set(lost),
              "final stats %s" % str(final[-1:])[:500])
    if isinstance(lost, dict):
        nonzero = {k: v for k, v in lost.items() if v}
        if nonzero:
            ctx.note("mechanism", "lost: " + ", ".join("%s %s" % kv for kv in nonzero.items()))
        ctx.check("loss: nothing lost in this workload", not nonzero,
                  "%s%s" % (nonzero, " (read_user_fail: a bpf_probe_read_user of a session's "
                            "memory failed, so a field or a policy decision was skipped)"
                            if "read_user_fail" in nonzero else ""))
    seqs = [e.get("seq") for e in ev]
    ctx.check("loss: event seq gapless from 1", seqs == list(range(1, len(seqs) + 1)),
              "%d events, first seqs %s" % (len(seqs), seqs[:10]))
