#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""File-change events: exact events of a scripted session, none for a neutral process, and a
flood through a small file ring buffer that loses file records only, each one counted."""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402

FLOOD_FILES = 50000


def expected_files(d, pid, denied):
    """The events agentfix `files D` produces, in order (see tests/fixtures/agentfix_files.h).
    Each: (pid, type, path, new_path, flags, result, mode or None, size or None)."""
    W, C, T, X, A = "O_WRONLY", "O_CREAT", "O_TRUNC", "O_EXCL", "O_APPEND"
    j = lambda *p: os.path.join(d, *p)  # noqa: E731
    return [
        (pid, "file_mkdir", j("real"), "", [], 0, 0o755, None),
        (pid, "file_symlink", j("link"), "real", [], 0, None, None),
        (pid, "file_open", j("abs.txt"), "", [W, C, T], 0, 0o644, None),
        (pid, "file_open", j("real", "rel.txt"), "", [W, C, X], 0, 0o600, None),
        (pid, "file_open", j("real", "dirfd.txt"), "", ["O_RDWR", C], 0, 0o640, None),
        (pid, "file_open", j("up.txt"), "", [W, C, A], 0, 0o644, None),
        (pid, "file_open", j("real", "vialink.txt"), "", [W, C, T], 0, 0o644, None),
        (pid, "file_open", j("target.txt"), "", [W, C, T], 0, 0o644, None),
        (pid, "file_open", j(".target.txt.tmp"), "", [W, C, T], 0, 0o644, None),
        (pid, "file_rename", j(".target.txt.tmp"), j("target.txt"), [], 0, None, None),
        (pid, "file_rename", j("real", "rel.txt"), j("real", "renamed.txt"), [], 0, None, None),
        (pid, "file_mkdir", j("sub"), "", [], 0, 0o750, None),
        (pid, "file_mkdir", j("sub", "inner"), "", [], 0, 0o700, None),
        (pid, "file_rmdir", j("sub", "inner"), "", [], 0, None, None),
        (pid, "file_rmdir", j("sub"), "", [], 0, None, None),
        (pid, "file_truncate", j("abs.txt"), "", [], 0, None, 3),
        (pid, "file_chmod", j("up.txt"), "", [], 0, 0o640, None),
        (pid, "file_truncate", j("up.txt"), "", [], "EINVAL", None, 1),
        (pid, "file_chmod", j("abs.txt"), "", [], 0, 0o600, None),
        (pid, "file_chmod", j("target.txt"), "", [], 0, 0o604, None),
        (pid, "file_link", j("abs.txt"), j("hard.txt"), [], 0, None, None),
        (pid, "file_link", j("abs.txt"), j("real", "hard2.txt"), [], 0, None, None),
        (pid, "file_symlink", j("sym.txt"), "abs.txt", [], 0, None, None),
        (pid, "file_symlink", j("real", "sym2.txt"), "../abs.txt", [], 0, None, None),
        (pid, "file_unlink", j("sym.txt"), "", [], 0, None, None),
        (pid, "file_unlink", j("hard.txt"), "", [], 0, None, None),
        (pid, "file_open", j("missing", "x.txt"), "", [W, C], "ENOENT", 0o644, None),
        (pid, "file_open", j("real"), "", [W], "EISDIR", None, None),
        (pid, "file_mkdir", j("locked"), "", [], 0, 0o755, None),
        (denied, "file_open", j("locked", "x.txt"), "", [W, C], "EACCES", 0o644, None),
    ]


def as_tuple(e, want):
    """The event in the shape of want (mode and size compared only where want has them)."""
    return (e.get("proc", {}).get("pid"), e.get("type"), e.get("path", ""),
            e.get("new_path", ""), e.get("flags", []), e.get("result", 0),
            e.get("mode", 0) if want[6] is not None else None,
            e.get("size", 0) if want[7] is not None else None)


FILE_OPS = {"file_open", "file_rename", "file_unlink", "file_rmdir", "file_mkdir",
            "file_truncate", "file_chmod", "file_link", "file_symlink"}


def file_events(events):
    """FileOp events (file_write/file_read are another module's, with their own tests)."""
    return [e for e in events if e.get("type") in FILE_OPS]


def test_exact(t):
    tree = os.path.realpath(t.path("tree"))
    plain = os.path.realpath(t.path("plain"))
    os.makedirs(tree)
    os.makedirs(plain)
    claude = t.fixture("claude")
    neutral = t.fixture("worker")
    with lib.Agent(t.build) as agent:
        r = lib.run([claude, "files", tree])
        n = lib.run([neutral, "files", plain])
    if not t.check("files: fixture ran", r.rc == 0 and n.rc == 0,
                   "rc %d/%d: %s %s" % (r.rc, n.rc, r.err[-500:], n.err[-500:])):
        return
    denied = r.field("files", "denied_pid")
    mine = file_events(lib.session_events(agent.events, r.pid))
    want = expected_files(tree, r.pid, denied)
    got = [as_tuple(e, w) for e, w in zip(mine, want)]
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
    t.check("files: %d file events, exact and in order" % len(want),
            len(mine) == len(want) and not bad,
            "got %d events, want %d; first differences: %s%s" %
            (len(mine), len(want), bad[:3],
             "" if len(mine) <= len(want) else " extra: %s" % [
                 (e["type"], e.get("path")) for e in mine[len(want):len(want) + 3]]))
    t.check("files: read-only opens give no event",
            not any(e.get("path") == os.path.join(tree, "abs.txt") and e["type"] == "file_open"
                    and "O_WRONLY" not in e.get("flags", []) for e in mine),
            "a read-only open of abs.txt was reported")
    t.check("files: every path is absolute",
            all(e.get("path", "").startswith("/") for e in mine),
            "relative: %s" % [e.get("path") for e in mine if not e.get("path", "").startswith("/")])
    others = [e for e in file_events(agent.events)
              if e.get("path", "").startswith(plain + "/") or
              e.get("proc", {}).get("pid") == n.pid]
    t.check("files: the same actions under a neutral name give no file event", not others,
            "%d events, e.g. %s" % (len(others), others[:1]))


def test_chroot(t):
    root = os.path.realpath(t.path("jail"))
    os.makedirs(root)
    claude = t.fixture("claude")
    with lib.Agent(t.build) as agent:
        r = lib.run([claude, "file-chroot", root])
    if not t.check("chroot: fixture ran", r.rc == 0, "rc %d: %s" % (r.rc, r.err[-500:])):
        return
    child = r.field("file-chroot", "child")
    got = [(e["type"], e.get("path"), e.get("result", 0))
           for e in file_events(lib.pid_events(agent.events, child))]
    want = [("file_open", "/inside.txt", 0), ("file_mkdir", "/sub", 0),
            ("file_mkdir", "/made", 0)]
    t.check("chroot: paths in the process's own view", got == want,
            "got %s, want %s" % (got, want))


def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    stop = threading.Event()

    def serve():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                pass
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    return s, stop


def test_flood(t):
    flood = os.path.realpath(t.path("flood"))
    os.makedirs(flood)
    cfg = t.path("small.yaml")
    with open(cfg, "w") as f:
        f.write("output: json\nstats_interval_s: 3600\nring_buffers:\n  file_kb: 16\n")
    claude = t.fixture("claude")
    srv, stop = listener()
    port = str(srv.getsockname()[1])
    marker = t.path("after-flood")
    try:
        with lib.Agent(t.build, config=cfg) as agent:
            r = lib.run([claude, "tcp", "127.0.0.1", port, "run", "/bin/true", "before", "--",
                         "file-flood", flood, str(FLOOD_FILES),
                         "tcp", "127.0.0.1", port, "exec-shell", marker], timeout=300)
    finally:
        stop.set()
        srv.close()
    if not t.check("flood: fixture ran", r.rc == 0, "rc %d: %s" % (r.rc, r.err[-500:])):
        return
    mine = lib.session_events(agent.events, r.pid)
    flood_got = [e for e in mine if e["type"] == "file_open" and
                 e.get("path", "").startswith(flood + "/")]
    marker_got = [e for e in mine if e["type"] == "file_open" and e.get("path") == marker]
    final = [e for e in agent.events if e.get("type") == "agent_stats" and e.get("final")]
    if not t.check("flood: final agent_stats", final, "no final agent_stats event"):
        return
    lost = final[-1].get("lost", {}).get("rb_file_full", 0)
    # The session issued FLOOD_FILES + 1 file records (the shell's "> marker" open).
    issued = FLOOD_FILES + 1
    received = len(flood_got) + len(marker_got)
    sessions = {e.get("session", {}).get("root_pid") for e in agent.events
                if e.get("type") == "session_start"}
    # Each flood file also sends write-tracking records (open, close) through the same ring;
    # those are counted apart, so that this count is about file_open events only.
    lost_io = final[-1].get("lost", {}).get("rb_fileio_full", 0)
    writes = [e for e in mine if e["type"] == "file_write" and
              e.get("path", "").startswith(flood + "/")]
    print("info: flood of %d files through a 16 KiB file ring buffer: %d received, %d counted "
          "lost, sessions seen %d; file_write %d, write-tracking records lost %d" %
          (FLOOD_FILES, received, lost, len(sessions), len(writes), lost_io))
    t.check("flood: every file_write missing is covered by a counted write-tracking loss",
            len(writes) + lost_io >= FLOOD_FILES and len(writes) <= FLOOD_FILES,
            "%d file_write + %d lost < %d" % (len(writes), lost_io, FLOOD_FILES))
    t.check("flood: some file records were lost (the test stresses the ring)", lost > 0,
            "nothing lost: the test does not exercise the full ring")
    if sessions <= {r.pid}:
        t.check("flood: received + counted lost == issued (%d)" % issued,
                received + lost == issued, "%d + %d != %d" % (received, lost, issued))
    else:
        # Other sessions on this machine share the agent's counters: only a bound holds.
        t.check("flood: every missing record counted (others' sessions share the counter)",
                lost >= issued - received, "%d lost < %d missing" % (lost, issued - received))
    t.check("flood: no file record beyond what was issued",
            len(flood_got) <= FLOOD_FILES and len({e["path"] for e in flood_got}) ==
            len(flood_got), "%d flood events, duplicates?" % len(flood_got))
    execs = [e for e in mine if e["type"] == "exec"]
    conns = [e for e in mine if e["type"] == "net_connect" and e.get("dport") == int(port)]
    exec_names = sorted(os.path.basename(e.get("exe", "") or e.get("proc", {}).get("exe", ""))
                        for e in execs)
    t.check("flood: exec events all there (true before, sh after)",
            "true" in exec_names and any(x in exec_names for x in ("sh", "dash", "bash")),
            "execs: %s" % exec_names)
    t.check("flood: both connects there", len(conns) == 2,
            "%d net_connect to port %s" % (len(conns), port))
    t.check("flood: no core record lost", final[-1].get("lost", {}).get("rb_core_full", 0) == 0,
            "rb_core_full %s" % final[-1].get("lost"))


def main():
    t = lib.Test("files")
    for fn in (test_exact, test_chroot, test_flood):
        try:
            fn(t)
        except Exception as e:  # a broken step must not hide the others
            t.check(fn.__name__, False, "%s: %s" % (type(e).__name__, e))
    t.finish()


if __name__ == "__main__":
    main()
