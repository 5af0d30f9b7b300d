# SPDX-License-Identifier: Apache-2.0
"""Guest side of the VM tier: one aitrail-agent for the whole boot, every check of
tests/vm/checks against it, results as JSON lines on the results port.

A check is a module tests/vm/checks/NN_name.py with:

    FEATURE = "uring"                 # the table row it reports to (tests/vm/features.py)
    def policy(ctx): -> [str]         # optional: policy rules (YAML flow lines) it needs
    def act(ctx): -> state            # runs while the agent runs
    def judge(ctx, state)             # after the agent stopped: ctx.events, ctx.check(...)

ctx.check(name, ok, why) records a pass or a fail; ctx.notrun(name, why) records a check that
could not run here (counted, never a pass); ctx.note(key, text) records how a feature works on
this kernel (the table's mechanism column). A check that raises is a failure. The kernel
command line's aitrail.checks=a,b limits the run to those FEATUREs (the smoke boot).

Results port lines: {"type": "boot"|"agent"|"result"|"note"|"done", ...}. Console lines start
with "aitrail-vm:" (markers the host follows).
"""
import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))  # tests/
sys.path[:0] = [os.path.join(ROOT, "e2e"), os.path.join(ROOT, "vm", "checks")]
import lib  # noqa: E402

CHECKS = os.path.join(ROOT, "vm", "checks")


def uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def marker(text):
    print("aitrail-vm: %s (uptime %.1f)" % (text, uptime()), flush=True)


class Results:
    def __init__(self, path):
        self.f = open(path, "w") if path else sys.stdout

    def emit(self, **kw):
        self.f.write(json.dumps(kw, sort_keys=True) + "\n")
        self.f.flush()


class Ctx:
    """What a check sees. One per check module; the agent and events are shared."""

    def __init__(self, run, feature):
        self._run = run
        self.feature = feature
        self.build = run.build
        self.dir = tempfile.mkdtemp(prefix="vm-%s-" % feature, dir=run.tmp)
        self.cgroup = run.cgroup
        self.lsm = run.lsm
        self.results = []

    @property
    def file_mech(self):
        """How the agent enforces file and exec rules here (its start log), and why."""
        return self._run.file_mech, self._run.file_mech_why

    # --- what checks call
    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def fixture(self, name, src="agentfix", subdir=None):
        d = self.path(subdir) if subdir else self.dir
        os.makedirs(d, exist_ok=True)
        dst = os.path.join(d, name)
        shutil.copy2(os.path.join(self.build, "tests", "fixtures", src), dst)
        os.chmod(dst, 0o755)
        return dst

    def check(self, name, ok, why=""):
        self._record(name, "pass" if ok else "fail", "" if ok else why)
        return ok

    def notrun(self, name, why):
        self._record(name, "notrun", why)

    def note(self, key, text):
        self._run.out.emit(type="note", feature=self.feature, key=key, text=text)

    @property
    def events(self):
        return self._run.agent.events

    @property
    def agent_log(self):
        return self._run.agent.log()

    @property
    def parts_off(self):
        """{part: why} from the start line's "; off: PART (why); ..." list."""
        out = {}
        for ln in self._run.agent.log().splitlines():
            if "kernel programs:" in ln and "; off: " in ln:
                for item in ln.split("; off: ", 1)[1].split("; "):
                    part, _, why = item.partition(" (")
                    out[part] = why[:-1] if why.endswith(")") else why
        return out

    @property
    def agent_rc(self):
        return self._run.agent.rc

    def wait_event(self, pred, timeout=20):
        """While the agent runs: the first event so far that satisfies pred, or None."""
        end = time.time() + timeout
        while time.time() < end:
            with open(self._run.agent.out_path, "rb") as f:
                for line in f:
                    try:
                        e = json.loads(line)
                    except ValueError:
                        continue  # a line still being written
                    if pred(e):
                        return e
            time.sleep(0.1)
        return None

    def in_cgroup(self):
        """preexec_fn that moves the child into the test's child cgroup."""
        procs = os.path.join(self.cgroup, "cgroup.procs")

        def enter():
            with open(procs, "w") as f:
                f.write("0")
        return enter

    def _record(self, name, result, why):
        self.results.append(result)
        self._run.out.emit(type="result", feature=self.feature, name=name, result=result,
                           why=str(why)[:2000])
        print("aitrail-vm: %s %s%s" % (result.upper(), name, (": " + str(why)[:300])
                                       if why else ""), flush=True)


class Run:
    def __init__(self, args):
        self.build = args.build
        self.out = Results(args.results)
        self.tmp = tempfile.mkdtemp(prefix="aitrail-vm-")
        self.cgroup = "/sys/fs/cgroup/aitrail-vm-%d" % os.getpid()
        with open("/sys/kernel/security/lsm") as f:
            self.lsm = f.read().strip()
        self.agent = None
        self.file_mech = self.file_mech_why = None

    def parse_policy_line(self):
        """'policy enforcement: network by M, files and exec by M (why)' from the start log."""
        for ln in self.agent.log().splitlines():
            if "policy enforcement:" in ln and "files and exec by " in ln:
                rest = ln.split("files and exec by ", 1)[1]
                self.file_mech, _, why = rest.partition(" (")
                self.file_mech_why = why[:-1] if why.endswith(")") else why


def load_checks(only):
    mods = []
    for f in sorted(os.listdir(CHECKS)):
        if not f.endswith(".py") or f.startswith("_"):
            continue
        m = importlib.import_module(f[:-3])
        if only and m.FEATURE not in only:
            continue
        mods.append(m)
    return mods


def cmdline_checks():
    with open("/proc/cmdline") as f:
        for tok in f.read().split():
            if tok.startswith("aitrail.checks="):
                return set(tok.split("=", 1)[1].split(","))
    return set()


def agent_lines(log):
    """The start log lines the host reports: programs loaded, parts off and why, policy."""
    keep = ("kernel programs:", "policy enforcement:", "turned off", "has no", "is off",
            "does not load", "failed to")
    return [ln for ln in log.splitlines() if any(k in ln for k in keep)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default=None)
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    run = Run(args)
    with open("/proc/cmdline") as f:
        cmdline = f.read().strip()
    run.out.emit(type="boot", kernel=os.uname().release, lsm=run.lsm, cmdline=cmdline,
                 uptime=uptime())
    marker("runner started, kernel %s, lsm %s" % (os.uname().release, run.lsm))
    checks = load_checks(cmdline_checks())
    ctxs = [(m, Ctx(run, m.FEATURE)) for m in checks]
    os.mkdir(run.cgroup)
    states = {}
    try:
        rules = []
        for m, ctx in list(ctxs):
            try:
                rules += m.policy(ctx) if hasattr(m, "policy") else []
            except Exception:  # noqa: BLE001 (the check can't run: a failure, the rest go on)
                ctx.check("%s: policy" % m.FEATURE, False, traceback.format_exc()[-1500:])
                ctxs.remove((m, ctx))
        policy = os.path.join(run.tmp, "policy.yaml")
        with open(policy, "w") as f:
            f.write("version: 1\nrules:%s\n" % ("".join("\n  - %s" % r for r in rules)
                                                  if rules else " []"))
        conf = os.path.join(run.tmp, "agent.yaml")
        with open(conf, "w") as f:
            f.write("state_dir: %s\npolicy:\n  file: %s\n  cgroup: %s\n" %
                    (os.path.join(run.tmp, "state"), policy, run.cgroup))
        run.agent = lib.Agent(run.build, config=conf, ready_timeout=180)
        t0 = uptime()
        marker("agent starting")
        try:
            run.agent.start()
        except RuntimeError as e:
            run.out.emit(type="agent", ready=False, ready_s=uptime() - t0,
                         lines=agent_lines(run.agent.log()), error=str(e)[-3000:])
            marker("agent failed to start")
            for m, ctx in ctxs:
                ctx.check("%s: agent started" % m.FEATURE, False, "the agent did not start")
            return 1
        run.parse_policy_line()
        run.out.emit(type="agent", ready=True, ready_s=uptime() - t0,
                     lines=agent_lines(run.agent.log()))
        marker("agent ready after %.1f s" % (uptime() - t0))
        for m, ctx in ctxs:
            t = uptime()
            try:
                states[m.FEATURE] = m.act(ctx)
            except Exception:  # noqa: BLE001 (a check that raises is a failure)
                ctx.check("%s: act" % m.FEATURE, False, traceback.format_exc()[-1500:])
            marker("acted %s in %.1f s" % (m.FEATURE, uptime() - t))
        rc = run.agent.stop(timeout=60)
        marker("agent stopped, exit %s, %d events" % (rc, len(run.agent.events)))
        for m, ctx in ctxs:
            if m.FEATURE not in states:
                continue
            try:
                m.judge(ctx, states[m.FEATURE])
            except Exception:  # noqa: BLE001
                ctx.check("%s: judge" % m.FEATURE, False, traceback.format_exc()[-1500:])
            if not ctx.results:
                ctx.check("%s: ran at least one check" % m.FEATURE, False, "no check ran")
        if any(r == "fail" for _, c in ctxs for r in c.results):
            # for whoever investigates: the host keeps them next to the console log
            run.out.emit(type="agent_log", text=run.agent.log()[-20000:])
            for e in run.agent.events:
                run.out.emit(type="event", event=e)
        return 0
    except Exception:  # noqa: BLE001 (the runner itself broke: say so on the results port)
        run.out.emit(type="result", feature="boot", name="guest runner", result="fail",
                     why=traceback.format_exc()[-2000:])
        return 1
    finally:
        if run.agent:
            run.agent.stop(timeout=30)
        for m, ctx in ctxs:
            if hasattr(m, "cleanup"):
                try:
                    m.cleanup(ctx, states.get(m.FEATURE))
                except Exception:  # noqa: BLE001
                    traceback.print_exc()
        try:
            os.rmdir(run.cgroup)
        except OSError:
            pass
        run.out.emit(type="done", uptime=uptime())
        marker("runner done")


if __name__ == "__main__":
    sys.exit(main())
