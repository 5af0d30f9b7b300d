# SPDX-License-Identifier: Apache-2.0
"""What sessions wrote and read, end to end: file_write with the final path and sha256 of an
in-place edit, an atomic save (temp file renamed over the target) and a file left open at exit;
file_read of a fake ~/.aws/credentials (and a configured pattern), not of an ordinary file; then
with agent + collector on loopback, `aitrail provenance --git REPO` finds the AI-written files of
a git repository and not the others, with a useful exit status."""
import hashlib
import json
import os
import socket
import subprocess
import time

import lib

t = lib.Test("provenance")
b = t.build


def sha(data):
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(*args):
    return subprocess.run(["git", "-C", repo, "-c", "user.name=e2e", "-c", "user.email=e2e@x",
                           "-c", "commit.gpgsign=false"] + list(args),
                          capture_output=True, text=True, timeout=30, check=True)


def cli(*args):
    return subprocess.run([os.path.join(b, "aitrail"), "--server", url, "--token", "e2e-prov"]
                          + list(args), capture_output=True, text=True, timeout=60)


# a repository with human files, and a HOME-like tree with credentials
repo = t.path("repo")
home = t.path("home")
os.makedirs(repo)
os.makedirs(os.path.join(home, ".aws"))
os.makedirs(os.path.join(home, ".myorg"))
with open(os.path.join(home, ".aws", "credentials"), "w") as f:
    f.write("[default]\naws_access_key_id = AKIAE2ETEST\n")
with open(os.path.join(home, ".myorg", "token"), "w") as f:
    f.write("tok\n")
with open(os.path.join(home, "notes.txt"), "w") as f:
    f.write("nothing secret\n")
git("init", "-q")
with open(os.path.join(repo, "human.txt"), "w") as f:
    f.write("written by a person\n")
with open(os.path.join(repo, "README.md"), "w") as f:
    f.write("# project\n")
git("add", "-A")
git("commit", "-q", "-m", "human start")

# content unique to this run, so other runs' ledger entries cannot match
stamp = "%d-%d" % (os.getpid(), time.time_ns())
inplace_text = "print('in place %s')\n" % stamp
atomic_text = "print('atomic save %s')\n" % stamp
open_text = "left open %s\n" % stamp
edited_text = "AI draft %s\n" % stamp

# a package tree read file by file, as node does with node_modules
mods = t.path("node_modules", "pkg")
os.makedirs(mods)
for i in range(1000):
    with open(os.path.join(mods, "m%d.js" % i), "w") as f:
        f.write("module.exports = %d;\n" % i)

port = free_port()
url = "http://127.0.0.1:%d" % port
with open(t.path("enroll.token"), "w") as f:
    f.write("e2e-prov-enroll\n")
coll_log = open(t.path("collector.log"), "w")
coll = subprocess.Popen([os.path.join(b, "aitrail-collector"), "--listen", "127.0.0.1:%d" % port,
                         "--db", t.path("coll.db"), "--enroll-token-file", t.path("enroll.token"),
                         "--admin-token", "e2e-prov"], stdout=subprocess.DEVNULL, stderr=coll_log)
try:
    if not lib.wait_for(lambda: "collector ready" in open(t.path("collector.log")).read()
                        or coll.poll() is not None, 15):
        raise RuntimeError("collector not ready: " + open(t.path("collector.log")).read())
    cfg = t.path("agent.yaml")
    with open(cfg, "w") as f:
        f.write("state_dir: %s\nbatch: {max_ms: 200}\n"
                "collector:\n  url: %s\n  enroll_token: e2e-prov-enroll\n"
                "files:\n  sensitive_paths: [\"~/.myorg/token\"]\n" % (t.path("state"), url))
    fix = t.fixture("claude")
    with lib.Agent(b, config=cfg) as agent:
        r = lib.run([fix,
                     "write-file", os.path.join(repo, "ai_inplace.py"), inplace_text,
                     "atomic-save", os.path.join(repo, "ai_atomic.py"), atomic_text,
                     "write-file", os.path.join(repo, "edited.txt"), edited_text,
                     "read-file", os.path.join(home, ".aws", "credentials"),
                     "read-file", os.path.join(home, ".myorg", "token"),
                     "read-file", os.path.join(home, "notes.txt"),
                     "write-open", os.path.join(repo, "ai_open.txt"), open_text,
                     "exec-shell", os.path.join(repo, "ai_shell.txt")]
                    + [a for i in range(1000) for a in ("read-file",
                                                        os.path.join(mods, "m%d.js" % i))],
                    env=dict(os.environ, HOME=home), cwd=repo)
        t.check("fixture ran", r.rc == 0, "rc=%s stderr=%s" % (r.rc, r.err[-500:]))
        # shipped: the collector's ledger knows the in-place file
        inplace = os.path.join(repo, "ai_inplace.py")
        lib.wait_for(lambda: cli("provenance", inplace).returncode == 1, 30, 0.3)
        time.sleep(1)
    mine = lib.session_events(agent.events, r.pid)
    writes = {e["path"]: e for e in mine if e["type"] == "file_write"}
    reads = {e["path"]: e for e in mine if e["type"] == "file_read"}

    w = writes.get(inplace)
    t.check("in-place edit: file_write with the sha256 of the content",
            w is not None and w.get("sha256") == sha(inplace_text) and w.get("created")
            and w.get("truncated_on_open") and w.get("bytes_written") == len(inplace_text),
            "got %r" % w)
    final = os.path.join(repo, "ai_atomic.py")
    w = writes.get(final)
    t.check("atomic save: file_write for the final path with the final sha256",
            w is not None and w.get("sha256") == sha(atomic_text)
            and w.get("renamed_from", "").startswith(final + ".tmp."),
            "got %r; all writes: %s" % (w, sorted(writes)))
    w = writes.get(os.path.join(repo, "ai_open.txt"))
    t.check("fd left open at exit: file_write at_exit with the sha256",
            w is not None and w.get("sha256") == sha(open_text) and w.get("at_exit"),
            "got %r" % w)
    # sh -c "echo x > FILE": open, dup2 onto stdout, close, write through the dup, restore
    w = writes.get(os.path.join(repo, "ai_shell.txt"))
    t.check("shell redirect: file_write follows the dup, with the command's bytes and hash",
            w is not None and w.get("bytes_written") == 2 and w.get("writes") == 1 and
            w.get("sha256") == sha("x\n") and w.get("fd") == 1 and not w.get("at_exit"),
            "got %r" % w)
    cred = os.path.join(home, ".aws", "credentials")
    t.check("read of ~/.aws/credentials: file_read",
            cred in reads and reads[cred].get("pattern") == "~/.aws/**", "reads: %r" % reads)
    t.check("configured pattern ~/.myorg/token: file_read",
            os.path.join(home, ".myorg", "token") in reads, "reads: %r" % sorted(reads))
    t.check("ordinary file read: no file_read",
            os.path.join(home, "notes.txt") not in reads, "reads: %r" % sorted(reads))

    # reads outside the session's working directory (the repo), counted per directory
    dirs = {}
    for e in mine:
        if e["type"] == "file_read_dirs":
            for d in e.get("dirs", []):
                dirs[d["dir"]] = dirs.get(d["dir"], 0) + d["reads"]
    t.check("reads outside the working directory counted per directory",
            dirs.get(os.path.join(home, ".aws")) == 1 and dirs.get(home) == 1
            and dirs.get(os.path.join(home, ".myorg")) == 1,
            "dirs=%r" % dirs)
    t.check("1,000 module reads: one directory line counting 1,000, no file_read",
            dirs.get(mods) == 1000 and not any(p.startswith(mods) for p in reads),
            "count=%r" % dirs.get(mods))
    t.check("no directory inside the working directory itemised",
            not any(d == repo or d.startswith(repo + "/") for d in dirs), "dirs=%r" % dirs)

    # a person rewrites edited.txt after the session: no longer AI content
    with open(os.path.join(repo, "edited.txt"), "w") as f:
        f.write("rewritten by a person %s\n" % stamp)
    git("add", "-A")
    git("commit", "-q", "-m", "mixed")

    p = cli("--json", "provenance", "--git", repo)
    ok = p.returncode == 1
    found = set()
    try:
        o = json.loads(p.stdout)
        found = {f["file"] for f in o["files"]}
        sessions = {m["session"] for f in o["files"] for m in f["matches"]}
    except (ValueError, KeyError):
        ok, sessions = False, set()
    want = {"ai_inplace.py", "ai_atomic.py", "ai_open.txt", "ai_shell.txt"}
    t.check("provenance --git finds the AI-written files, exit 1",
            ok and want <= found, "rc=%d found=%s stderr=%s" % (p.returncode, found, p.stderr))
    t.check("provenance --git leaves human and rewritten files out",
            not found & {"human.txt", "README.md", "edited.txt"}, "found=%s" % found)
    sid = next((e["session"]["id"] for e in mine), None)
    t.check("matches name the writing session", sid is not None and sid in sessions,
            "sid=%s sessions=%s" % (sid, sessions))
    p = cli("provenance", "--git", repo)
    t.check("table output lists the files and a summary",
            p.returncode == 1 and "ai_atomic.py" in p.stdout and "claude" in p.stdout
            and "4 of 7 files" in p.stdout, "rc=%d out=%s" % (p.returncode, p.stdout))
    p = cli("provenance", os.path.join(repo, "human.txt"), os.path.join(repo, "README.md"))
    t.check("human files only: exit 0", p.returncode == 0,
            "rc=%d out=%s err=%s" % (p.returncode, p.stdout, p.stderr))
    p = cli("provenance", os.path.join(repo, "missing.txt"))
    t.check("unreadable file: exit 2 naming it", p.returncode == 2 and "missing.txt" in p.stderr,
            "rc=%d err=%s" % (p.returncode, p.stderr))
    p = cli("provenance", "--git", t.path("home"))
    t.check("not a repository: exit 2 with a clear error",
            p.returncode == 2 and "git work tree" in p.stderr, "rc=%d err=%s" % (p.returncode,
                                                                            p.stderr))
finally:
    if coll.poll() is None:
        coll.terminate()
        try:
            coll.wait(10)
        except subprocess.TimeoutExpired:
            coll.kill()
            coll.wait()
    coll_log.close()
t.finish()
