# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the bench: statistics, process plumbing, the build job, the table."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def progress(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def stats(vals):
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals),
            "values": vals}


def run_json(argv, timeout=600, env=None):
    """Runs a workload and returns its JSON result lines; a failure names the command."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       env=env, text=True)
    if p.returncode != 0:
        raise RuntimeError("failed to run %s: exit %d: %s" %
                           (" ".join(argv), p.returncode, p.stderr.strip()[-500:]))
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


class Cleanup:
    """A stack of undo actions, run once, last in first out, each even if another fails."""

    def __init__(self):
        self.actions = []

    def add(self, fn):
        self.actions.append(fn)

    def run(self):
        while self.actions:
            fn = self.actions.pop()
            try:
                fn()
            except Exception as e:  # keep undoing the rest
                progress("cleanup step failed: %s" % e)


def stop_process(p, timeout=10):
    """SIGTERM, then SIGKILL after timeout: only for processes this bench started."""
    if p.poll() is not None:
        return p.returncode
    p.terminate()
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait(5)


def machine_info():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": os.uname().release,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def other_agents():
    """Agents someone else runs on this machine: reported, never touched."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                if f.read().strip() == "aitrail-agent":
                    pids.append(int(d))
        except OSError:
            pass
    return pids


SESSION_NAME = "claude-bench"


def session_binary(loops_bin, tmp):
    """The same loop binary under an agent's name, so the agent makes it a session root. The
    bench's agent knows the claude tool by the name claude-bench only (signatures: replace), so
    agents others run on this machine with the default signatures leave the bench's flood alone,
    and the bench's agent does not count their sessions."""
    d = os.path.join(tmp, "session-bin")
    os.makedirs(d, exist_ok=True)
    dst = os.path.join(d, SESSION_NAME)
    shutil.copy2(loops_bin, dst)
    return dst


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3): utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mib(pid):
    rss = hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return rss, hwm


class Job:
    """A file-heavy developer job: unpack a generated C tree and build it with make -j2."""

    def __init__(self, tmp, nfiles):
        self.nfiles = nfiles
        self.root = os.path.join(tmp, "job")
        src = os.path.join(self.root, "proj")
        os.makedirs(os.path.join(src, "src"))
        os.makedirs(os.path.join(src, "include"))
        for i in range(nfiles):
            with open(os.path.join(src, "include", "m%d.h" % i), "w") as f:
                f.write("#pragma once\nstruct m%d { int a, b; long c[%d]; };\n"
                        "int m%d_run(struct m%d *m, int n);\n" % (i, i % 7 + 1, i, i))
            with open(os.path.join(src, "src", "m%d.c" % i), "w") as f:
                f.write('#include <stdio.h>\n#include <string.h>\n#include "m%d.h"\n' % i)
                for k in range(4):
                    f.write("static int f%d(int x) { int s = 0; for (int i = 0; i < x; i++) "
                            "s += (i * %d) ^ (s >> 3); return s; }\n" % (k, k + i + 1))
                f.write("int m%d_run(struct m%d *m, int n)\n{\n\tchar buf[64];\n"
                        "\tmemset(m, 0, sizeof(*m));\n\tsnprintf(buf, sizeof(buf), \"%%d\", n);\n"
                        "\treturn f0(n) + f1(m->a) + f2(m->b) + f3((int)strlen(buf));\n}\n" % (i, i))
        with open(os.path.join(src, "src", "main.c"), "w") as f:
            for i in range(nfiles):
                f.write('#include "m%d.h"\n' % i)
            f.write("int main(void)\n{\n\tint s = 0;\n")
            for i in range(nfiles):
                f.write("\t{ struct m%d m; s += m%d_run(&m, %d); }\n" % (i, i, i))
            f.write("\treturn s == 42;\n}\n")
        with open(os.path.join(src, "Makefile"), "w") as f:
            f.write("CFLAGS = -O1 -Iinclude\nSRCS = $(wildcard src/*.c)\n"
                    "OBJS = $(SRCS:src/%.c=obj/%.o)\n"
                    "app: $(OBJS)\n\t$(CC) -o $@ $^\n"
                    "obj/%.o: src/%.c | obj\n\t$(CC) $(CFLAGS) -c $< -o $@\n"
                    "obj:\n\tmkdir -p obj\n")
        self.tarball = os.path.join(self.root, "proj.tar")
        subprocess.run(["tar", "cf", self.tarball, "-C", self.root, "proj"], check=True)
        shutil.rmtree(src)
        self.work = os.path.join(self.root, "work")

    def run(self, binary, prefix=()):
        """Returns (wall s, CPU s of everything the job ran)."""
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        script = "tar xf %s -C %s && make -s -j2 -C %s/proj" % (self.tarball, self.work,
                                                                  self.work)
        r = run_json([binary] + list(prefix) + ["run", "sh", "-c", script])[0]
        if r["status"] != 0:
            raise RuntimeError("build job failed with status %d" % r["status"])
        if not os.access(os.path.join(self.work, "proj", "app"), os.X_OK):
            raise RuntimeError("build job produced no binary")
        shutil.rmtree(self.work, ignore_errors=True)
        return r["wall_ns"] / 1e9, (r["user_ns"] + r["sys_ns"]) / 1e9


# --- the targets of issue 6, judged on this run's figures

def targets(res):
    out = []
    off = _get(res, "off", "loops") or {}
    ait, aud = res.get("aitrail", {}), res.get("auditd", {})
    noise = None
    bases = res.get("baselines", [])
    if len(bases) > 1:
        noise = max((max(b[n]["median"] for b in bases) / min(b[n]["median"] for b in bases)) - 1
                    for n in off)
        out.append("Noise: the three no-audit baselines of this run (before, between and after "
                   "the audited phases) differ by up to %.1f%% on the same loop; smaller "
                   "differences are not significant." % (100 * noise))
    un = {n: _get(ait, "untracked", "loops", n) for n in off}
    if all(un.values()):
        worst = max(un, key=lambda n: un[n]["median"] / off[n]["median"])
        r = un[worst]["median"] / off[worst]["median"]
        rmin = un[worst]["min"] / off[worst]["min"]
        verdict = "met" if r < 1.02 else ("not shown: the fastest rounds are within 2%, the "
                                          "medians are not" if rmin < 1.02 else "MISSED")
        out.append("Untracked overhead under 2%%: %s (worst loop %s: ratio of medians %.3f, "
                   "of the fastest rounds %.3f)." % (verdict, worst, r, rmin))
    else:
        out.append("Untracked overhead under 2%%: not measured (%s)." % (_why(ait) or "no data"))
    se = {n: (_get(ait, "session", "loops", n), _get(aud, "session", "loops", n)) for n in off}
    if all(a and b for a, b in se.values()):
        parts, worse = [], []
        for n, (a, b) in se.items():
            parts.append("%s %.2fx vs %.2fx" % (n, a["median"] / off[n]["median"],
                                                b["median"] / off[n]["median"]))
            if a["median"] >= b["median"]:
                worse.append(n)
        out.append("Tracked well under auditd for the same scope: %s (aitrail vs auditd, "
                   "ratio to no audit: %s)." % ("MISSED on " + ", ".join(worse) if worse
                                                 else "met", "; ".join(parts)))
    else:
        out.append("Tracked vs auditd: not measured (%s)." %
                   (_why(ait) or _why(aud) or "no data"))
    pipe = _get(ait, "pipeline")
    if pipe and not _why(pipe):
        best = pipe.get("max_lossless_per_s", 0)
        out.append("200,000 events/s end to end without loss: %s (highest sustained: %s)." %
                   ("met" if best >= 200000 else "MISSED", pipe.get("max_lossless", "none")))
    else:
        out.append("200,000 events/s end to end: not measured (%s)." %
                   (_why(pipe) if pipe else (_why(ait) or "no data")))
    rs = _get(ait, "resources")
    if rs and not _why(rs):
        out.append("Agent under 64 MiB RSS and 2%% of a core at 1,000 events/s: %s (%.1f MiB "
                   "peak, %.2f%% of a core)." % (
                       "met" if rs["agent_hwm_mib"] < 64 and rs["agent_cpu_pct"] < 2 else "MISSED",
                       rs["agent_hwm_mib"], rs["agent_cpu_pct"]))
    else:
        out.append("Agent resources at 1,000 events/s: not measured (%s)." %
                   (_why(rs) if rs else (_why(ait) or "no data")))
    return out


# --- rendering

def _fmt(s, unit="", prec=0):
    if s is None:
        return "n/a"
    f = "%%.%df" % prec
    return (f % s["median"]) + unit + " [" + (f % s["min"]) + "–" + (f % s["max"]) + "]"


def _ratio(a, b):
    if not a or not b:
        return "n/a"
    return "%.3f" % (a["median"] / b["median"])


def _get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _why(d):
    return d.get("skipped") or d.get("error") if isinstance(d, dict) else None


def render(res):
    """The Markdown report: every table the bench produces, with what could not be measured."""
    m = res["machine"]
    out = []
    w = out.append
    w("Measured %s on %s (%d cores), Linux %s; %d rounds per figure: median [min–max]." %
      (m["date"], m["cpu"], m["cores"], m["kernel"], res["rounds"]))
    if res.get("quick"):
        w("QUICK RUN (shortened loops): figures are indicative only.")
    for warn in res.get("warnings", []):
        w("WARNING: " + warn)
    off, ait, aud = res.get("off", {}), res.get("aitrail", {}), res.get("auditd", {})
    for name, d in (("aitrail", ait), ("auditd", aud)):
        if _why(d):
            w("%s: not measured: %s" % (name, _why(d)))
        for note in (d or {}).get("notes", []):
            w("%s: %s" % (name, note))
    w("")
    w("### Hot path outside every session (ns per call)")
    w("")
    w("No audit: the three baselines of the run pooled (%d rounds)." %
      (res["rounds"] * len(res.get("baselines", [1]))))
    w("")
    w("| loop | no audit | aitrail | ratio | auditd | ratio |")
    w("|---|---|---|---|---|---|")
    for name, desc in res["loops"].items():
        b = _get(off, "loops", name)
        a = _get(ait, "untracked", "loops", name)
        u = _get(aud, "untracked", "loops", name)
        w("| %s | %s | %s | %s | %s | %s |" % (desc, _fmt(b), _fmt(a), _ratio(a, b), _fmt(u),
                                              _ratio(u, b)))
    w("")
    w("### The same loops inside a session (ns per call)")
    w("")
    w("Same binary. aitrail: named `claude-bench`, the claude tool's only name in the bench "
      "agent's config, so the agent makes it a session root; every event is shipped to the "
      "collector. auditd: rules scoped with `-F auid=` (login uid set by the session's root).")
    w("")
    w("| loop | no audit | aitrail session | ratio | auditd session | ratio |")
    w("|---|---|---|---|---|---|")
    for name, desc in res["loops"].items():
        b = _get(off, "loops", name)
        a = _get(ait, "session", "loops", name)
        u = _get(aud, "session", "loops", name)
        w("| %s | %s | %s | %s | %s | %s |" % (desc, _fmt(b), _fmt(a), _ratio(a, b), _fmt(u),
                                              _ratio(u, b)))
    dl = _get(ait, "session", "delivery")
    if dl:
        w("")
        w("Delivered to the collector's store from these session loops (warm-ups included): " +
          "; ".join("%s %d of %d calls" % (k, v["stored"], v["calls"]) for k, v in dl.items()) +
          " (30 s after the loops).")
        rc = _get(ait, "session", "delivery_recount")
        if rc:
            w("Recounted at the end of the aitrail phase: " + "; ".join(
                "%s %d of %d" % (k, v["stored"], v["calls"]) for k, v in rc.items()) + ".")
    if _get(off, "job"):
        w("")
        w("### Build job: unpack a generated C tree and `make -j2` it")
        w("")
        w("| configuration | wall s | ratio | CPU s (user+sys) | ratio |")
        w("|---|---|---|---|---|")
        b = off["job"]
        rows = [("no audit", b)]
        rows += [("aitrail, outside a session", _get(ait, "untracked", "job")),
                 ("aitrail, inside a session", _get(ait, "session", "job")),
                 ("auditd, outside the audited uid", _get(aud, "untracked", "job")),
                 ("auditd, inside (auid rule)", _get(aud, "session", "job"))]
        for label, j in rows:
            if not j:
                w("| %s | n/a | | n/a | |" % label)
                continue
            w("| %s | %s | %s | %s | %s |" % (label, _fmt(j["wall_s"], prec=2),
                                              _ratio(j["wall_s"], b["wall_s"]),
                                              _fmt(j["cpu_s"], prec=2),
                                              _ratio(j["cpu_s"], b["cpu_s"])))
    pipe = _get(ait, "pipeline")
    if pipe:
        w("")
        w("### Pipeline capacity: one session creating files at a paced rate")
        w("")
        if _why(pipe):
            w("Not measured: %s" % _why(pipe))
        else:
            w("| offered ev/s | achieved ev/s | file events | stored | lost (kernel) | "
              "store caught up after | end-to-end ev/s | agent CPU | collector CPU |")
            w("|---|---|---|---|---|---|---|---|---|")
            for s in pipe["steps"]:
                w("| %d | %.0f | %d | %s | %s | %s | %s | %s | %s |" % (
                    s["target_per_s"], s["achieved_per_s"], s["ops"],
                    s.get("stored", "n/a"), s.get("lost_kernel", "n/a"),
                    ("%.1f s" % s["lag_s"]) if s.get("lag_s") is not None else "never",
                    ("%.0f" % s["e2e_per_s"]) if s.get("e2e_per_s") else "n/a",
                    ("%.0f%%" % s["agent_cpu_pct"]) if "agent_cpu_pct" in s else "n/a",
                    ("%.0f%%" % s["collector_cpu_pct"]) if "collector_cpu_pct" in s else "n/a"))
            w("")
            w("Sustained: no event lost and the store held every event at most 2.5 s after the "
              "session stopped (the agent cuts a batch at least every second).")
            w("")
            w("Highest rate sustained end to end into the store without loss: %s. %s" % (
                pipe.get("max_lossless", "none"), pipe.get("breaks_first", "")))
        idle = _get(ait, "resources")
        if idle and not _why(idle):
            w("")
            w("At %d events/s for %d s (%d of %d file events stored): agent %.2f%% of a core, "
              "RSS %.1f MiB (peak %.1f MiB); collector %.2f%% of a core, RSS %.1f MiB." % (
                  idle["rate"], idle["seconds"], idle["stored"], idle["ops"],
                  idle["agent_cpu_pct"], idle["agent_rss_mib"],
                  idle["agent_hwm_mib"], idle["collector_cpu_pct"], idle["collector_rss_mib"]))
        elif idle:
            w("")
            w("Agent resources at 1,000 events/s: not measured: %s" % _why(idle))
    bpf = _get(ait, "bpf")
    if bpf:
        w("")
        w("### Kernel cost per BPF program (kernel.bpf_stats_enabled)")
        w("")
        if _why(bpf):
            w("Not measured: %s" % _why(bpf))
        else:
            phases = list(bpf["phases"].keys())
            w("Programs that never ran during the bench are left out.")
            w("")
            w("| program | " + " | ".join("%s: runs, ns/run" % p for p in phases) + " |")
            w("|---|" + "---|" * len(phases))
            progs = sorted({p for ph in bpf["phases"].values() for p in ph if ph[p]["runs"]})
            for prog in progs:
                cells = []
                for ph in phases:
                    v = bpf["phases"][ph].get(prog)
                    cells.append("%d, %.0f" % (v["runs"], v["ns_per_run"]) if v and v["runs"]
                                 else "0, –")
                w("| %s | %s |" % (prog, " | ".join(cells)))
    tg = res.get("targets")
    if tg:
        w("")
        w("### Against the targets")
        w("")
        for line in tg:
            w("- " + line)
    return "\n".join(out) + "\n"
