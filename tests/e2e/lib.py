# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for the end-to-end tests (python3 stdlib only).

Typical use:

    import lib
    t = lib.Test("files")                       # PASS/FAIL bookkeeping, temp dir, cleanup
    fix = t.fixture("claude")                   # copy of agentfix named `claude` in t.dir
    with lib.Agent(t.build) as agent:           # starts the agent, waits for "ready"
        r = lib.run([fix, "exec-shell", t.path("out")])
    events = agent.events                       # parsed JSON lines, after SIGTERM
    mine = lib.session_events(events, r.pid)    # events of the session rooted at that pid
    t.check("exec seen", any(e["type"] == "exec" for e in mine), "no exec event")
    t.finish()                                  # prints the summary, exits non-zero on failure

The agent is always stopped (SIGTERM, then SIGKILL after a timeout), even when a test raises:
Agent is a context manager and also registers an atexit handler. Tests must only assert on
events of processes they started (other engineers' tests may run concurrently).
"""
import argparse
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

_agents = []


def _stop_all():
    for a in list(_agents):
        a.stop()


atexit.register(_stop_all)


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    return p.parse_args()


class Agent:
    """aitrail-agent with --output json; stdout and stderr go to files in a temp dir."""

    def __init__(self, build, args=(), ready_timeout=60, config=None):
        self.build = os.path.abspath(build)
        self.dir = tempfile.mkdtemp(prefix="aitrail-e2e-agent-")
        # the events are read after stop(); the directory goes when the test process ends
        # (AITRAIL_E2E_KEEP=1 keeps it for a look at the agent's log)
        if not os.environ.get("AITRAIL_E2E_KEEP"):
            atexit.register(self._stop_and_clean)
        self.out_path = os.path.join(self.dir, "events.json")
        self.err_path = os.path.join(self.dir, "agent.log")
        cmd = [os.path.join(self.build, "aitrail-agent"), "--output", "json"]
        if config:
            cmd += ["--config", config]
        cmd += list(args)
        self.cmd = cmd
        self.ready_timeout = ready_timeout
        self.proc = None
        self.rc = None
        self.events = []

    def start(self):
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL)
        _agents.append(self)
        deadline = time.time() + self.ready_timeout
        while time.time() < deadline:
            if " ready: " in self.log():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("aitrail-agent exited with %d before it was ready:\n%s"
                                   % (self.proc.returncode, self.log()[-3000:]))
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("aitrail-agent not ready after %ds:\n%s"
                           % (self.ready_timeout, self.log()[-3000:]))

    def log(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout=30):
        """SIGTERM, wait (SIGKILL after timeout), parse the JSON lines. Returns the exit code."""
        if self.proc is None or self.rc is not None:
            return self.rc
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.rc = self.proc.returncode
        self._out.close()
        self._err.close()
        if self in _agents:
            _agents.remove(self)
        self.events = read_events(self.out_path)
        return self.rc

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def _stop_and_clean(self):
        self.stop()
        self.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def read_events(path):
    """Parses a file of JSON lines; a line that is not JSON raises with its number."""
    events = []
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except ValueError as e:
                raise ValueError("%s:%d: not JSON (%s): %r" % (path, n, e, line[:200]))
    return events


def session_events(events, root_pid):
    """Events attributed to the session whose root process is root_pid."""
    return [e for e in events if e.get("session", {}).get("root_pid") == root_pid]


def pid_events(events, pid):
    """Events of process pid (any session)."""
    return [e for e in events if e.get("proc", {}).get("pid") == pid]


class Result:
    def __init__(self, pid, rc, out, err):
        self.pid, self.rc, self.out, self.err = pid, rc, out, err

    def field(self, action, key):
        """Value of key=... on the first stdout line starting with action (agentfix output)."""
        for line in self.out.splitlines():
            if line.startswith(action + " ") or line == action:
                for tok in line.split()[1:]:
                    k, _, v = tok.partition("=")
                    if k == key:
                        return int(v) if v.lstrip("-").isdigit() else v
        return None


def run(argv, env=None, timeout=60, cwd=None):
    """Runs a fixture to completion; returns Result(pid, rc, stdout, stderr)."""
    p = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return Result(p.pid, p.returncode, out.decode("utf-8", "replace"),
                  err.decode("utf-8", "replace"))


def wait_for(pred, timeout=10, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Test:
    """PASS/FAIL lines, a temp dir, fixture copies."""

    def __init__(self, name, build=None):
        self.name = name
        self.build = os.path.abspath(build or parse_args().build)
        self.dir = tempfile.mkdtemp(prefix="aitrail-e2e-%s-" % name)
        self.failed = 0
        self.passed = 0
        atexit.register(lambda: shutil.rmtree(self.dir, ignore_errors=True))

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def fixture(self, name, src="agentfix", subdir=None):
        """Copies build/tests/fixtures/<src> to <tmp>/[subdir/]name, executable."""
        d = self.path(subdir) if subdir else self.dir
        os.makedirs(d, exist_ok=True)
        dst = os.path.join(d, name)
        shutil.copy2(os.path.join(self.build, "tests", "fixtures", src), dst)
        os.chmod(dst, 0o755)
        return dst

    def check(self, what, ok, why=""):
        if ok:
            print("PASS %s" % what, flush=True)
            self.passed += 1
        else:
            print("FAIL %s: %s" % (what, why), flush=True)
            self.failed += 1
        return ok

    def skip(self, what, why):
        print("SKIP %s: %s" % (what, why), flush=True)

    def finish(self):
        sys.exit(1 if self.failed else 0)
