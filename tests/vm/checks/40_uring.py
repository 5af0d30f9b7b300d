# SPDX-License-Identifier: Apache-2.0
"""io_uring: a session opens (absolute and relative), renames and connects through rings, and
sends a TLS ClientHello through one; the syscall hooks see none of it. Each op must be an
event with its canonical path or address and the completion's result."""
import hashlib
import os
import re
import socket
import threading

import lib

FEATURE = "uring"
TITLE = "io_uring"


def act(ctx):
    claude = ctx.fixture("claude")
    work = ctx.path("work")
    os.mkdir(work)
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)
    port = lst.getsockname()[1]

    def serve():
        # reads until the client closes: a connection never ends before its first write
        while True:
            try:
                c, _ = lst.accept()
            except OSError:
                return
            threading.Thread(target=lambda c=c: [None for _ in iter(lambda: c.recv(4096), b"")],
                             daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    absolute = os.path.join(work, "abs.txt")
    try:
        r = lib.run([claude, "uring-open", absolute, "uring-open", "rel.txt",
                     "uring-rename", "rel.txt", "renamed.txt",
                     "uring-connect", "127.0.0.1", str(port),
                     "uring-tls-hello", "127.0.0.1", str(port), "api.anthropic.com"], cwd=work)
    finally:
        lst.close()
    return r, work, port


def judge(ctx, state):
    r, work, port = state
    line = [ln for ln in ctx.agent_log.splitlines() if "kernel programs:" in ln]
    how = [ln.split("io_uring: ", 1)[1] for ln in ctx.agent_log.splitlines()
           if "io_uring: submissions at " in ln]
    m = how and re.match(r"submissions at (\S+), results from io_uring_complete's (.*)", how[-1])
    if m:
        ctx.note("mechanism", "tp_btf %s, io_uring_complete (%s)" % (m.group(1), m.group(2)))
    elif "io_uring" in ctx.parts_off:
        ctx.note("mechanism", "off: %s" % ctx.parts_off["io_uring"])
    if not ctx.check("uring: fixture ran", r.rc == 0, "rc %s %s" % (r.rc, r.err[-500:])):
        return
    mine = lib.session_events(ctx.events, r.pid)
    ops = [e for e in mine if e["type"] == "io_uring"]
    show = "; ".join("%s %s -> %s %s" % (e.get("op"), e.get("path"), e.get("new_path"),
                                         e.get("result")) for e in ops) or "none"
    setups = [e for e in mine if e["type"] == "io_uring_setup"]
    ctx.check("uring: one io_uring_setup per ring (5 rings)", len(setups) == 5,
              "%d setups; start line %s" % (len(setups), line[-1:]))
    fds = [int(ln.split("fd=")[1].split()[0]) for ln in r.out.splitlines()
           if ln.startswith("uring-open ")]
    absolute = os.path.join(work, "abs.txt")
    o = [e for e in ops if e.get("op") == "openat" and e.get("path") == absolute]
    ctx.check("uring: openat of an absolute path with flags and the fd of its completion",
              len(o) == 1 and {"O_WRONLY", "O_CREAT", "O_TRUNC"} <= set(o[0].get("flags", []))
              and o[0].get("completed") is True and o[0].get("new_fd") == fds[0], show)
    o = [e for e in ops if e.get("op") == "openat" and
         e.get("path") == os.path.join(work, "rel.txt")]
    ctx.check("uring: openat of a relative name joined with the cwd",
              len(o) == 1 and o[0].get("completed") is True and o[0].get("new_fd") == fds[1],
              show)
    o = [e for e in ops if e.get("op") == "renameat"]
    ctx.check("uring: renameat with both names absolute, result 0",
              len(o) == 1 and o[0].get("path") == os.path.join(work, "rel.txt") and
              o[0].get("new_path") == os.path.join(work, "renamed.txt") and
              o[0].get("result", 0) == 0 and o[0].get("completed") is True, show)
    c = [e for e in mine if e["type"] == "net_connect" and e.get("syscall") == "io_uring_connect"]
    ctx.check("uring: a connect through a ring is a net_connect with address and result",
              len(c) == 1 and c[0].get("daddr") == "127.0.0.1" and c[0].get("dport") == port and
              c[0].get("result") == 0, str(c)[:600])
    hello = [ln for ln in r.out.splitlines() if ln.startswith("uring-tls-hello ")]
    sport = int(hello[0].split("sport=")[1].split()[0]) if hello else -1
    sni = [e for e in mine if e["type"] == "net_connect" and e.get("sport") == sport]
    ctx.check("uring: a ClientHello sent through a ring names its connection (tls_sni)",
              len(sni) == 1 and sni[0].get("dst_name") == "api.anthropic.com" and
              sni[0].get("name_source") == "tls_sni", str(sni)[:600])
    w = [e for e in mine if e["type"] == "file_write" and e.get("path") == absolute]
    want = hashlib.sha256(b"written through io_uring\n").hexdigest()
    ctx.check("uring: a file written through the ring: file_write with its sha256",
              len(w) == 1 and w[0].get("sha256") == want and w[0].get("via_io_uring") is True,
              str(w)[:500])
