#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""io_uring end to end: the agentfix fixture, run as `claude`, opens and writes a file, renames
one and connects to a loopback listener, each through an io_uring ring (raw syscalls), which
the syscall hooks never see. The agent must report an io_uring_setup per ring and an io_uring
event per open, rename and connect, with absolute paths, open flags, the completion's result
and the address. The same actions under a neutral name produce no io_uring events."""
import hashlib
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402


def main():
    t = lib.Test("uring")
    claude = t.fixture("claude")
    worker = t.fixture("worker")
    work = t.path("work")
    os.mkdir(work)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    def drain(c):
        """Reads until the client closes, then closes: the connection ends on both sides
        (net_close), and never before the client's first write (which names it)."""
        with c:
            try:
                while c.recv(4096):
                    pass
            except OSError:
                pass

    def serve():
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=drain, args=(c,), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    absolute = os.path.join(work, "abs.txt")
    actions = ["uring-open", absolute, "uring-open", "rel.txt",
               "uring-rename", "rel.txt", "renamed.txt",
               "uring-connect", "127.0.0.1", str(port),
               "uring-tls-hello", "127.0.0.1", str(port), "api.anthropic.com"]
    with open("/proc/sys/kernel/io_uring_disabled") as f:
        disabled = f.read().strip()
    if disabled != "0":
        t.check("io_uring is enabled on this host (kernel.io_uring_disabled)", False,
                "kernel.io_uring_disabled = %s: the fixture can't make a ring" % disabled)
        t.finish()
    held_path = t.path("held.txt")
    hold = None
    home = t.path("home")
    os.makedirs(os.path.join(home, ".aws"))
    cred = os.path.join(home, ".aws", "credentials")
    with open(cred, "w") as f:
        f.write("[default]\naws_access_key_id = AKIAEXAMPLE\n")
    with lib.Agent(t.build) as agent:
        r = lib.run([claude] + actions, cwd=work)
        ctl = lib.run([worker] + ["uring-open", t.path("ctl.txt")], cwd=work)
        rd = lib.run([claude, "uring-read", cred], cwd=work, env=dict(os.environ, HOME=home))
        # an open that can't complete while the agent runs (linked behind a 20 s timeout):
        # reported when the agent stops
        hold = subprocess.Popen([claude, "uring-open-hold", held_path, "20000"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        held = hold.stdout.readline().decode()  # agentfix's first line
        held = hold.stdout.readline().decode()
    hold.kill()
    hold.wait()
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    if not t.check("fixture ran", r.rc == 0 and ctl.rc == 0,
                   "rc %s/%s, stderr %r %r" % (r.rc, ctl.rc, r.err[-300:], ctl.err[-300:])):
        t.finish()
    mine = lib.session_events(agent.events, r.pid)
    ops = [e for e in mine if e["type"] == "io_uring"]
    setups = [e for e in mine if e["type"] == "io_uring_setup"]
    show = "; ".join("%s %s -> %s %s" % (e.get("op"), e.get("path"), e.get("new_path"),
                                         e.get("result")) for e in ops) or "none"

    def op(name, **kw):
        return [e for e in ops if e.get("op") == name and
                all(e.get(k) == v for k, v in kw.items())]

    t.check("one io_uring_setup per ring (5 rings)", len(setups) == 5,
            "%d: %s" % (len(setups), setups))
    fds = [int(ln.split("fd=")[1].split()[0]) for ln in r.out.splitlines()
           if ln.startswith("uring-open ")]
    o = op("openat", path=absolute)
    t.check("openat of an absolute path: path, flags, the fd the completion gave",
            len(o) == 1 and
            {"O_WRONLY", "O_CREAT", "O_TRUNC"} <= set(o[0].get("flags", [])) and
            o[0].get("mode") == 0o644 and o[0].get("completed") is True and
            o[0].get("new_fd") == fds[0] and o[0].get("fd") == -100, show)
    o = op("openat", path=os.path.join(work, "rel.txt"))
    t.check("openat of a relative name: joined with the process's cwd",
            len(o) == 1 and o[0].get("completed") is True and o[0].get("new_fd") == fds[1],
            show)
    o = op("renameat")
    t.check("renameat: both names absolute, result 0",
            len(o) == 1 and o[0].get("path") == os.path.join(work, "rel.txt") and
            o[0].get("new_path") == os.path.join(work, "renamed.txt") and
            o[0].get("result", 0) == 0 and o[0].get("completed") is True and
            os.path.exists(os.path.join(work, "renamed.txt")), show)
    line = [ln for ln in r.out.splitlines() if ln.startswith("uring-connect ")]
    sport = int(line[0].split("sport=")[1].split()[0]) if line else -1
    o = [e for e in mine if e["type"] == "net_connect" and e.get("syscall") == "io_uring_connect"]
    t.check("a connect through a ring is a net_connect (syscall io_uring_connect): address, "
            "ports, proto, the completion's result",
            len(o) == 1 and o[0].get("daddr") == "127.0.0.1" and o[0].get("dport") == port and
            o[0].get("sport") == sport and o[0].get("proto") == "tcp" and
            o[0].get("family") == "inet" and o[0].get("result") == 0 and
            line and line[0].endswith("result=0"), "%s / %s" % (o, line))
    line = [ln for ln in r.out.splitlines() if ln.startswith("uring-tls-hello ")]
    hsport = int(line[0].split("sport=")[1].split()[0]) if line else -1
    o = [e for e in mine if e["type"] == "net_connect" and e.get("sport") == hsport]
    t.check("a TLS ClientHello sent through a ring names the connection (tls_sni, vendor)",
            len(o) == 1 and o[0].get("dst_name") == "api.anthropic.com" and
            o[0].get("name_source") == "tls_sni" and o[0].get("vendor") == "anthropic",
            "%s / %s" % (o, line))
    c = [e for e in mine if e["type"] == "net_close" and e.get("sport") == sport]
    t.check("the ring's connection gets its net_close", len(c) == 1 and c[0].get("final"),
            "sport %s: %s; all net_close: %s" % (sport, c, [(e.get("sport"), e.get("dport"))
                                                         for e in mine
                                                         if e["type"] == "net_close"]))
    w = [e for e in mine if e["type"] == "file_write" and e.get("path") == absolute]
    want = hashlib.sha256(b"written through io_uring\n").hexdigest()
    t.check("a file opened, written and closed through the ring: file_write with the content's "
            "sha256, via_io_uring, at the ring's close",
            len(w) == 1 and w[0].get("sha256") == want and w[0].get("via_io_uring") is True and
            not w[0].get("at_exit"), str(w))
    w = [e for e in mine if e["type"] == "file_write" and
         e.get("path") == os.path.join(work, "renamed.txt")]
    t.check("written then renamed through a ring (an atomic save): file_write for the final "
            "name, renamed_from the first, with the content's sha256",
            len(w) == 1 and w[0].get("renamed_from") == os.path.join(work, "rel.txt") and
            w[0].get("sha256") == want, str(w))
    reads = [e for e in lib.session_events(agent.events, rd.pid) if e["type"] == "file_read"]
    t.check("a sensitive file (~/.aws/credentials) opened through a ring: file_read",
            rd.rc == 0 and len(reads) == 1 and reads[0].get("path") == cred and
            reads[0].get("pattern") == "~/.aws/**", "rc %s %s %s" % (rd.rc, rd.err[-200:], reads))
    t.check("reads and writes on the ring are not reported one by one",
            not [e for e in ops if e.get("op") not in ("openat", "renameat")], show)
    o = [e for e in lib.session_events(agent.events, hold.pid)
         if e["type"] == "io_uring" and e.get("path") == held_path]
    t.check("an open still blocked when the agent stops is reported, completed: false",
            "submitted" in held and len(o) == 1 and o[0].get("completed") is False,
            "%r %s" % (held, o))
    t.check("neutral name: the same ring operations produce no io_uring events",
            not [e for e in agent.events if e["type"].startswith("io_uring") and
                 e.get("proc", {}).get("pid") == ctl.pid], "")
    t.finish()


if __name__ == "__main__":
    main()
