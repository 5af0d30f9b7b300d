#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What aitrail costs the host, side by side with auditd doing the same audit.

One run measures, in order: the host with no audit, with aitrail (agent + collector on
loopback), and with auditd (rules for the same syscalls, scoped by audit login uid). Every
figure is the median of ROUNDS runs with min and max; every ratio compares figures taken in
this same run. Results: a table on stdout, JSON and a Markdown table under OUT.

Usage: bench.py --build build [--out build/bench] [--rounds 5] [--quick]
Run through `make bench` (bench/run.sh), as root.
"""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import auditrun  # noqa: E402
import aitrailrun  # noqa: E402

LOOPS = [
    # name, mode, iterations per round, needs a file argument, what it is
    ("open-ro", "open-ro", 100000, False, "openat(/dev/null, O_RDONLY) + close"),
    ("open-wr", "open-wr", 100000, True, "openat(tmp file, O_WRONLY|O_CREAT) + close"),
    ("write", "write", 300000, True, "write(tmp file, 64 B)"),
    ("connect", "connect", 8000, False, "TCP socket + connect + accept + close, loopback"),
]


def loop_round(binary, name, mode, iters, tmp, prefix=()):
    """One process, one warm-up, one timed round: returns ns per call."""
    args = list(prefix) + [mode, str(iters), "1"]
    if name in ("open-wr", "write"):
        args.append(os.path.join(tmp, "loopfile-" + name))
    out = bl.run_json([binary] + args)
    return out[0]["ns_per_call"]


ROUND_S = 0.4  # target length of one timed round


def measure_loops(cfgs, tmp, rounds, scale):
    """cfgs: list of (label, binary, prefix args). Rounds are interleaved across cfgs so that
    drift of the machine (other tenants, CPU clock) hits every configuration alike. A short
    calibration run caps the iterations so a slow configuration (auditd writing a record per
    call) still takes about ROUND_S per round: figures are per call, so only precision changes."""
    res = {label: {} for label, _, _ in cfgs}
    for name, mode, iters, _, _ in LOOPS:
        iters = max(1, int(iters * scale))
        n, calls = {}, {}
        for label, binary, prefix in cfgs:
            c = max(1, iters // 50)
            ns = loop_round(binary, name, mode, c, tmp, prefix)
            n[label] = max(50, min(iters, int(ROUND_S * scale * 1e9 / ns)))
            # every call the processes made, warm-ups included: what a session's store must hold
            calls[label] = c // 4 + 1 + c + rounds * (n[label] // 4 + 1 + n[label])
        vals = {label: [] for label, _, _ in cfgs}
        for _ in range(rounds):
            for label, binary, prefix in cfgs:
                vals[label].append(loop_round(binary, name, mode, n[label], tmp, prefix))
        for label in vals:
            res[label][name] = bl.stats(vals[label])
            res[label][name]["iters"] = n[label]
            res[label][name]["calls"] = calls[label]
            res[label][name]["procs"] = 1 + rounds
        bl.progress("  %-8s %s" % (name, "  ".join(
            "%s %.0f ns" % (label, res[label][name]["median"]) for label, _, _ in cfgs)))
    return res


def measure_job(cfgs, job, rounds):
    """The realistic job: unpack the generated tree and build it with make -j2."""
    res = {label: {"wall_s": [], "cpu_s": []} for label, _, _ in cfgs}
    for r in range(rounds):
        for label, binary, prefix in cfgs:
            wall, cpu = job.run(binary, prefix)
            res[label]["wall_s"].append(wall)
            res[label]["cpu_s"].append(cpu)
        bl.progress("  job round %d/%d: %s" % (r + 1, rounds, "  ".join(
            "%s %.2fs" % (label, res[label]["wall_s"][-1]) for label, _, _ in cfgs)))
    return {label: {k: bl.stats(v) for k, v in d.items()} for label, d in res.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", default=None)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="short loops, for trying the bench out")
    ap.add_argument("--skip", default="", help="comma list of: aitrail,auditd,pipeline,job")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: must run as root (loads BPF programs, runs auditd)", file=sys.stderr)
        return 2
    if args.rounds < 1:
        print("bench: invalid --rounds %d: need at least 1" % args.rounds, file=sys.stderr)
        return 2
    build = os.path.abspath(args.build)
    out = os.path.abspath(args.out or os.path.join(build, "bench"))
    os.makedirs(out, exist_ok=True)
    skip = set(s for s in args.skip.split(",") if s)
    loops_bin = os.path.join(build, "bench", "loops")
    if not os.access(loops_bin, os.X_OK):
        print("bench: failed to find %s: run make first" % loops_bin, file=sys.stderr)
        return 2
    scale = 0.2 if args.quick else 1.0
    rounds = args.rounds
    t_start = time.time()

    cleanup = bl.Cleanup()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    results = {"machine": bl.machine_info(), "rounds": rounds, "quick": args.quick,
               "loops": {name: desc for name, _, _, _, desc in LOOPS},
               "warnings": []}
    load = os.getloadavg()[0]
    results["machine"]["loadavg_1m_at_start"] = load
    if load > 0.3:
        results["warnings"].append(
            "the machine was not idle when the run started (1-minute load %.2f): other work "
            "competes with the loops and widens every min–max" % load)
    others = bl.other_agents()
    if others:
        results["warnings"].append(
            "other aitrail-agent processes were running during this run (pids %s): their "
            "BPF programs add to every figure, baseline included" % ", ".join(map(str, others)))
    try:
        tmp = tempfile.mkdtemp(prefix="aitrail-bench.")
        cleanup.add(lambda: shutil.rmtree(tmp, ignore_errors=True))
        session_bin = bl.session_binary(loops_bin, tmp)
        job = None
        if "job" not in skip:
            job = bl.Job(tmp, nfiles=60 if args.quick else 160)
            bl.progress("generated source tree: %d C files" % job.nfiles)

        # --- no audit, three times: before, between and after the audited phases. The loop
        # baseline pools all three so slow drift of the machine does not favour either side;
        # how far the three moved apart is reported as this run's noise.
        base_cfgs = [("off", loops_bin, ())]
        baselines = []
        bl.progress("[1/5] no audit: loops and job")
        baselines.append(measure_loops(base_cfgs, tmp, rounds, scale)["off"])
        results["off"] = {}
        if job:
            results["off"]["job"] = measure_job(base_cfgs, job, rounds)["off"]

        # --- aitrail
        if "aitrail" in skip:
            results["aitrail"] = {"skipped": "skipped by --skip"}
        else:
            bl.progress("[2/5] aitrail: agent + collector on loopback")
            results["aitrail"] = aitrailrun.run(build, tmp, cleanup, loops_bin, session_bin,
                                                job, rounds, scale, skip, measure_loops,
                                                measure_job)
        bl.progress("[3/5] no audit again")
        baselines.append(measure_loops(base_cfgs, tmp, rounds, scale)["off"])

        # --- auditd
        if "auditd" in skip:
            results["auditd"] = {"skipped": "skipped by --skip"}
        else:
            bl.progress("[4/5] auditd: same syscalls, scoped by audit login uid")
            results["auditd"] = auditrun.run(tmp, cleanup, loops_bin, job, rounds, scale,
                                             measure_loops, measure_job)
        bl.progress("[5/5] no audit, last time")
        baselines.append(measure_loops(base_cfgs, tmp, rounds, scale)["off"])
        results["baselines"] = baselines
        results["off"]["loops"] = {
            name: bl.stats([v for b in baselines for v in b[name]["values"]])
            for name in baselines[0]}
    except KeyboardInterrupt:
        print("bench: interrupted, cleaning up", file=sys.stderr)
        cleanup.run()
        return 130
    finally:
        cleanup.run()

    results["duration_s"] = round(time.time() - t_start, 1)
    results["targets"] = bl.targets(results)
    table = bl.render(results)
    print()
    print(table)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    with open(os.path.join(out, "results-%s.json" % stamp), "w") as f:
        json.dump(results, f, indent=1)
    shutil.copyfile(os.path.join(out, "results-%s.json" % stamp),
                    os.path.join(out, "results.json"))
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table)
    bl.progress("wrote %s/results-%s.json, results.json and table.md (%.0f s)" %
                (out, stamp, results["duration_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
