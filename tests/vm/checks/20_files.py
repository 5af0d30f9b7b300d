# SPDX-License-Identifier: Apache-2.0
"""File events with canonical paths: agentfix `files` (absolute, relative after chdir, dirfd,
`..`, a symlinked directory, renames, links, chmod, truncate, failures) must give exactly the
events tests/e2e/test_files.py expects, in order, every path absolute and resolved."""
import os

import lib
import test_files

FEATURE = "files"
TITLE = "file events, canonical paths"


def act(ctx):
    tree = os.path.realpath(ctx.path("tree"))
    os.makedirs(tree)
    claude = ctx.fixture("claude")
    return tree, lib.run([claude, "files", tree])


def judge(ctx, state):
    tree, r = state
    if not ctx.check("files: fixture ran", r.rc == 0, "rc %s %s" % (r.rc, r.err[-500:])):
        return
    mine = test_files.file_events(lib.session_events(ctx.events, r.pid))
    want = test_files.expected_files(tree, r.pid, r.field("files", "denied_pid"))
    got = [test_files.as_tuple(e, w) for e, w in zip(mine, want)]
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
    ctx.check("files: %d file events exact and in order (.., symlinked dir, dirfd)" % len(want),
              len(mine) == len(want) and not bad,
              "got %d, want %d; first differences: %s" % (len(mine), len(want), bad[:3]))
    off = [p for p in ctx.parts_off if p.startswith("file_")]
    ctx.note("mechanism", "syscall tracepoints" + (" (off here: %s)" % ", ".join(off)
                                                   if off else ""))
    via = [e for e in mine if e.get("path") == os.path.join(tree, "real", "vialink.txt")]
    ctx.check("files: a write through the symlinked directory names the real directory",
              len(via) == 1, str([e.get("path") for e in mine])[:500])
