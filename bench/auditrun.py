# SPDX-License-Identifier: Apache-2.0
"""The auditd side of the comparison: the same syscalls aitrail records, scoped to one session.

Scope: auditd cannot follow a process tree from a process it did not see start, nor match an
agent by name and then follow its descendants (-F pid= and -F ppid= match one process, not its
subtree; -F exe= matches one binary). The closest it can express is the audit login uid, which
every descendant inherits: the session's root writes /proc/self/loginuid (loops --loginuid) and
the rules carry -F auid=AUID. That needs the launcher's cooperation, which aitrail does not.
"""
import os
import shutil
import subprocess
import time

import benchlib as bl

AUID = 4242
KEY = "aitrail-bench"

# What aitrail records for a session's processes, as audit syscall rules (x86_64 names).
RULES = [
    ["-S", "execve,execveat"],
    ["-S", "connect"],
    # file_open only with write intent: O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND = 0x643
    ["-S", "openat", "-F", "a2&0x643"],
    ["-S", "open", "-F", "a1&0x643"],
    ["-S", "creat,openat2"],
    ["-S", "rename,renameat,renameat2,unlink,unlinkat,rmdir,mkdir,mkdirat,truncate,ftruncate,"
     "chmod,fchmod,fchmodat,link,linkat,symlink,symlinkat"],
]
NOT_EXPRESSED = ("auditd rules cover exec, connect, open with write intent, rename, unlink, "
                 "rmdir, mkdir, truncate, chmod, link, symlink; they do not follow a session "
                 "by agent name (scope is the audit login uid the session root sets), record no "
                 "first-UDP-datagram destinations (no per-destination dedup: sendto is left out) "
                 "and no process exit")


def auditctl(*args, check=True):
    p = subprocess.run(["auditctl"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("failed to run auditctl %s: %s" % (" ".join(args),
                                                              (p.stderr or p.stdout).strip()))
    return p


def status():
    p = auditctl("-s", check=False)
    if p.returncode != 0:
        return None, (p.stderr or p.stdout).strip()
    st = {}
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            st[parts[0]] = parts[1]
    return st, None


def start(tmp, cleanup):
    """Starts a private auditd (config and log under tmp) with our rules; every change is
    undone by cleanup, in reverse, even on failure. Returns (pid, log path) or raises."""
    if not shutil.which("auditd") or not shutil.which("auditctl"):
        raise RuntimeError("auditd is not installed (make deps installs the Debian package)")
    st, err = status()
    if st is None:
        raise RuntimeError("audit is not available in this kernel: auditctl -s: %s" % err)
    if st.get("enabled") == "2":
        raise RuntimeError("audit configuration is locked (enabled 2): rules cannot be added")
    if st.get("pid", "0") != "0":
        raise RuntimeError("an audit daemon (pid %s) is already running: not replaced" %
                           st["pid"])
    prev_enabled, prev_backlog = st.get("enabled", "0"), st.get("backlog_limit", "64")

    d = os.path.join(tmp, "auditd")
    os.makedirs(os.path.join(d, "plugins.d"), exist_ok=True)
    with open("/etc/audit/auditd.conf") as f:
        conf = f.read().splitlines()
    conf = [("log_file = %s/audit.log" % d) if l.startswith("log_file") else
            ("plugin_dir = %s/plugins.d" % d) if l.startswith("plugin_dir") else l
            for l in conf]
    with open(os.path.join(d, "auditd.conf"), "w") as f:
        f.write("\n".join(conf) + "\n")
    os.chmod(os.path.join(d, "auditd.conf"), 0o640)

    # Debian's audit.rules raises the backlog to 8192; with the kernel default of 64 a busy
    # session waits on the backlog and auditd looks far worse than it is configured in practice.
    cleanup.add(lambda: auditctl("-b", prev_backlog, check=False))
    auditctl("-b", "8192")
    cleanup.add(lambda: auditctl("-e", prev_enabled, check=False))
    p = subprocess.Popen(["auditd", "-n", "-c", d, "-s", "enable"], stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(d, "auditd.stderr"), "w"))
    cleanup.add(lambda: bl.stop_process(p))
    for _ in range(50):
        st, _ = status()
        if st and st.get("pid") == str(p.pid):
            break
        if p.poll() is not None:
            with open(os.path.join(d, "auditd.stderr")) as f:
                raise RuntimeError("auditd exited with %d: %s" % (p.returncode, f.read()[-300:]))
        time.sleep(0.1)
    else:
        raise RuntimeError("auditd did not register with the kernel within 5 s")
    cleanup.add(lambda: auditctl("-D", "-k", KEY, check=False))
    for r in RULES:
        auditctl("-a", "always,exit", "-F", "arch=b64", *r, "-F", "auid=%d" % AUID, "-k", KEY)
    return p, os.path.join(d, "audit.log")


def run(tmp, cleanup, loops_bin, job, rounds, scale, measure_loops, measure_job):
    res = {"notes": [NOT_EXPRESSED]}
    undo = bl.Cleanup()
    try:
        try:
            _, log = start(tmp, undo)
        except RuntimeError as e:
            res["error"] = str(e)
            return res
        st0, _ = status()
        cfgs = [("untracked", loops_bin, ()),
                ("session", loops_bin, ("--loginuid", str(AUID)))]
        loops = measure_loops(cfgs, tmp, rounds, scale)
        res["untracked"] = {"loops": loops["untracked"]}
        res["session"] = {"loops": loops["session"]}
        if job:
            j = measure_job(cfgs, job, rounds)
            res["untracked"]["job"], res["session"]["job"] = j["untracked"], j["session"]
        st1, _ = status()
        lost = int(st1.get("lost", 0)) - int(st0.get("lost", 0))
        res["kernel_lost"] = lost
        if lost:
            res["notes"].append("the kernel dropped %d audit records during the run "
                                "(auditctl -s lost)" % lost)
        try:
            res["log_bytes"] = os.path.getsize(log)
        except OSError:
            pass
    finally:
        undo.run()
    st, _ = status()
    if st and st.get("pid", "0") != "0":
        res["notes"].append("audit pid still %s after stop" % st["pid"])
    return res
