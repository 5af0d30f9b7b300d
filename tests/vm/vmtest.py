#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make test-vm: the agent on the kernels fleets run, each booted under qemu.

For every kernel of tests/vm/kernels.conf (Debian packages, fetched once into build/vm) and
each of its boots (its default LSM list; `nobpf`: the same list without bpf), boots the kernel
with an initramfs holding this build (tests/vm/initramfs.py), where tests/vm/guest/runner.py
runs one agent and every check of tests/vm/checks. The guest has no network device: loopback
only. Results come back as JSON lines on a second serial port; the console carries progress
markers. Kernels boot one after another, each guest with both cores (-smp 2), KVM when
/dev/kvm is usable, software emulation otherwise.

Prints PASS/FAIL/SKIP lines, per-boot times, a kernel x feature table, and closes with
"vm: N passed, N failed, N skipped". A full run writes the table to docs/kernels.md.

    tests/vm/vmtest.py --build build [--smoke] [--kernels 6.1,6.12] [--docs docs/kernels.md]
"""
import argparse
import atexit
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import initramfs  # noqa: E402
import kernels  # noqa: E402

SMOKE_CHECKS = ("session", "files", "net_deny", "loss")
_qemu = []  # the qemu processes this run started, killed on any exit


def _kill_qemu():
    for p in _qemu:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_kill_qemu)


def _on_signal(sig, frame):
    _kill_qemu()
    sys.exit(128 + sig)


T0 = time.time()


def log(msg):
    print("[%6.1fs] %s" % (time.time() - T0, msg), flush=True)


def features():
    """(FEATURE, TITLE) of each check module, in file order: the table's rows."""
    out = []
    d = os.path.join(HERE, "checks")
    for f in sorted(os.listdir(d)):
        if f.endswith(".py") and not f.startswith("_"):
            src = open(os.path.join(d, f)).read()
            fe = re.search(r'^FEATURE = "([^"]+)"', src, re.M)
            ti = re.search(r'^TITLE = "([^"]+)"', src, re.M)
            if not fe or not ti:
                raise RuntimeError("%s: a check needs FEATURE and TITLE" % f)
            out.append((fe.group(1), ti.group(1)))
    return out


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    return True


class Boot:
    def __init__(self, kernel, mode):
        self.k, self.mode = kernel, mode
        self.label = kernel.name + ("" if mode == "default" else " nobpf")
        self.results = []   # dicts from the guest, plus host-side ones
        self.notes = {}     # (feature, key) -> text
        self.agent = None
        self.boot_info = None
        self.done = False
        self.wall = self.init_s = None
        self.console = ""
        self.agent_log = ""
        self.events = []  # the agent's events, sent only when a check failed

    def lsm_arg(self):
        if self.mode == "default":
            return None
        return ",".join(m for m in kernels.config_lsm(self.k) if m != "bpf")


def run_boot(b, initrd, out_dir, accel, timeout, only):
    """Boots b, waits for its poweroff (or kills it at timeout), fills b from its ports."""
    tag = re.sub(r"[^A-Za-z0-9.-]+", "_", b.label)
    console = os.path.join(out_dir, tag + ".console.log")
    results = os.path.join(out_dir, tag + ".results.jsonl")
    for p in (console, results, os.path.join(out_dir, tag + ".events.jsonl"),
              os.path.join(out_dir, tag + ".agent.log")):
        if os.path.exists(p):
            os.unlink(p)
    append = "console=ttyS0 panic=-1 loglevel=4"
    if b.lsm_arg():
        append += " lsm=" + b.lsm_arg()
    if only:
        append += " aitrail.checks=" + ",".join(only)
    cmd = ["qemu-system-x86_64", "-machine", "q35,accel=" + accel, "-cpu",
           "host" if accel == "kvm" else "max", "-smp", "2", "-m", "2048",
           "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
           "-nic", "none", "-serial", "file:" + console, "-serial", "file:" + results,
           "-kernel", b.k.vmlinuz, "-initrd", initrd, "-append", append]
    start = time.time()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    _qemu.append(p)
    seen = 0
    try:
        while p.poll() is None and time.time() - start < timeout:
            time.sleep(0.5)
            seen = follow(console, seen, b, start)
        if p.poll() is None:
            p.kill()
            b.results.append({"feature": "boot", "name": "%s: finished in time" % b.label,
                              "result": "fail",
                              "why": "killed after %d s (console: %s)" % (timeout, console)})
        p.wait()
        follow(console, seen, b, start)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    b.wall = time.time() - start
    qout = p.stdout.read().decode(errors="replace").strip()
    if qout:
        log("%s: qemu said: %s" % (b.label, qout[-500:]))
    with open(console, errors="replace") as f:
        b.console = f.read()
    m = re.search(r"aitrail-vm: init \S+ uptime ([\d.]+)", b.console)
    b.init_s = float(m.group(1)) if m else None
    read_results(b, results)
    if b.events or b.agent_log:
        with open(os.path.join(out_dir, tag + ".events.jsonl"), "w") as f:
            for e in b.events:
                f.write(json.dumps(e) + "\n")
        with open(os.path.join(out_dir, tag + ".agent.log"), "w") as f:
            f.write(b.agent_log)


def follow(console, seen, b, start):
    """Prints the guest's new progress markers; returns how far the console was read."""
    try:
        with open(console, "rb") as f:
            f.seek(seen)
            data = f.read()
    except OSError:
        return seen
    end = data.rfind(b"\n") + 1
    for line in data[:end].decode(errors="replace").splitlines():
        if "aitrail-vm:" in line:
            text = line.split("aitrail-vm:", 1)[1].strip()
            if text.startswith(("PASS ", "FAIL ", "NOTRUN ")):
                continue  # printed with the results
            log("  %s: %s" % (b.label, text))
    return seen + end


def read_results(b, path):
    try:
        lines = open(path, "rb").read().decode(errors="replace").splitlines()
    except OSError:
        lines = []
    for ln in lines:
        ln = ln.strip().strip("\r")
        if not ln.startswith("{"):
            continue
        try:
            r = json.loads(ln)
        except ValueError:
            b.results.append({"feature": "boot", "name": "%s: results port" % b.label,
                              "result": "fail", "why": "not JSON: %r" % ln[:200]})
            continue
        t = r.get("type")
        if t == "boot":
            b.boot_info = r
        elif t == "agent":
            b.agent = r
        elif t == "result":
            b.results.append(r)
        elif t == "note":
            b.notes[(r["feature"], r["key"])] = r["text"]
        elif t == "agent_log":
            b.agent_log = r.get("text", "")
        elif t == "event":
            b.events.append(r["event"])
        elif t == "done":
            b.done = True
    # host-side checks of the boot itself
    host = []
    host.append(("%s: guest ran to the end" % b.label, b.done,
                 "no 'done' line on the results port; console tail:\n" + b.console[-3000:]))
    host.append(("%s: the guest ran checks" % b.label, any(r.get("feature") != "boot"
                                                           for r in b.results),
                 "no check result came back"))
    if b.boot_info:
        lsm = b.boot_info.get("lsm", "").split(",")
        if b.mode == "default":
            host.append(("%s: default LSM list has bpf (%s)" % (b.label, ",".join(lsm)),
                         "bpf" in lsm, "lsm %s" % lsm))
        else:
            host.append(("%s: booted without bpf in the LSM list (%s)" % (b.label, ",".join(lsm)),
                         "bpf" not in lsm, "lsm %s" % lsm))
    for name, ok, why in host:
        b.results.insert(0, {"feature": "boot", "name": name, "result": "pass" if ok else "fail",
                             "why": "" if ok else why})


def cell(rs, note=None):
    """One table cell from a feature's results on one boot, with how it works there."""
    if not rs:
        return "-"
    kinds = {r["result"] for r in rs}
    if "fail" in kinds:
        word = "**FAIL**"
    elif kinds == {"pass"}:
        word = "pass"
    elif "pass" in kinds:
        word = "pass, part not run"
    elif all(r["why"].startswith("not built") for r in rs):
        return "not built"
    else:
        return "not run"
    return "%s: %s" % (word, note.replace("|", "/")) if note else word


def start_parts(b):
    """(programs loaded, "PART (why), ..." off) from the agent's start line."""
    for ln in (b.agent or {}).get("lines", []):
        if "kernel programs:" in ln:
            rest = ln.split("kernel programs:", 1)[1]
            m = re.match(r"\s*(\d+) loaded", rest)
            off = rest.split("; off: ", 1)[1].replace("; ", ", ") if "; off: " in rest else "-"
            return (m.group(1) if m else "?"), off
    return "?", "?"


def table(boots, rows):
    """Markdown: kernel x feature (result: how it works there), then one line per boot."""
    heads = ["%s `%s`" % (b.label, b.k.release) for b in boots]
    out = ["| feature | " + " | ".join(heads) + " |", "|---|" + "---|" * len(boots)]
    for fe, title in rows:
        cells = [cell([r for r in b.results if r.get("feature") == fe],
                      b.notes.get((fe, "mechanism"))) for b in boots]
        out.append("| %s | %s |" % (title, " | ".join(cells)))
    out += ["", "| boot | Debian package | LSM list | kernel programs loaded | off on this "
            "kernel, and why | boot to init | agent ready | whole boot |",
            "|---|---|---|---|---|---|---|---|"]
    for b in boots:
        n, off = start_parts(b)
        ready = (b.agent or {}).get("ready_s")
        out.append("| %s | %s | %s | %s | %s | %s | %s | %.0f s |" % (
            b.label, b.k.deb, (b.boot_info or {}).get("lsm", "?"), n, off.replace("|", "/"),
            "%.1f s" % b.init_s if b.init_s else "?", "%.1f s" % ready if ready else "?",
            b.wall or 0))
    return "\n".join(out)


def not_run_notes(boots):
    """"- CHECK on BOOT, BOOT: why", one line per distinct reason."""
    by = {}
    for b in boots:
        for r in b.results:
            if r["result"] == "notrun":
                by.setdefault((r["name"], r["why"].replace(b.label, "")), []).append(b.label)
    return ["- %s on %s: %s" % (name, ", ".join(labels), why)
            for (name, why), labels in by.items()]


def write_docs(path, boots, rows, accel, total_s, totals):
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                          text=True).stdout.split("\n")[0]
    qemu = re.sub(r"^QEMU emulator version (\S+).*", r"qemu \1", qemu)
    day = datetime.date.today().isoformat()
    with open(path + ".tmp", "w") as f:
        f.write("# Kernels aitrail runs on\n\n")
        f.write("Generated by `make test-vm` (tests/vm) on %s: %d passed, %d failed, %d not run "
                "in %.0f s. Each kernel is Debian's own package, booted under %s (%s, 2 vCPUs, "
                "no network device) with this build's agent and the checks of "
                "tests/vm/checks; `nobpf` is the same kernel booted with its LSM list minus "
                "`bpf`, where the agent must fall back. Run it again rather than edit this "
                "file.\n\n" % ((day,) + totals + (total_s, qemu,
                                                 "KVM" if accel == "kvm" else
                                                 "software emulation")))
        f.write(table(boots, rows) + "\n")
        notes = not_run_notes(boots)
        if notes:
            f.write("\nNot run, and why:\n\n" + "\n".join(notes) + "\n")
        f.write("\n`pass, part not run`: every check that ran passed; the rest are listed "
                "above. `not built`: the kernel offers it, aitrail does not do it yet (never "
                "counted as passed). Times are under software emulation, several times slower "
                "than a real host.\n")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--smoke", action="store_true",
                    help="one kernel, default LSM list, a few checks (make test)")
    ap.add_argument("--conf", default=os.path.join(HERE, "kernels.conf"),
                    help="the kernel list (tests/vm/kernels.conf)")
    ap.add_argument("--kernels", default="", help="comma-separated NAMEs of kernels.conf")
    ap.add_argument("--boots", default="", help="only these boots: default and/or nobpf")
    ap.add_argument("--checks", default="", help="only these FEATUREs (comma-separated)")
    ap.add_argument("--docs", default=None, help="write the table here (full runs)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per boot")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    build = os.path.abspath(args.build)
    vmdir = os.path.join(build, "vm")
    os.makedirs(vmdir, exist_ok=True)
    if os.geteuid() != 0:  # as the e2e tier
        print("vm: needs root (apt-get download of the kernels); skipped")
        print("vm: 0 passed, 0 failed")
        return 0
    for tool in ("qemu-system-x86_64", "dpkg-deb", "apt-get"):
        if not shutil.which(tool):
            print("vm: %s is missing (make deps-vm installs it)" % tool)
            print("vm: 0 passed, 1 failed")
            return 1
    try:
        ks = kernels.read_conf(args.conf)
    except (OSError, ValueError) as e:
        print("vm: %s" % e)
        return 2
    if args.kernels:
        want = args.kernels.split(",")
        unknown = [w for w in want if w not in [k.name for k in ks]]
        if unknown:
            print("vm: no kernel %s in tests/vm/kernels.conf" % ",".join(unknown))
            return 2
        ks = [k for k in ks if k.name in want]
    if args.smoke:
        ks = ks[:1]
        ks[0].boots = ks[0].boots[:1]
    if args.boots:
        for k in ks:
            k.boots = [m for m in k.boots if m in args.boots.split(",")]
    only = SMOKE_CHECKS if args.smoke else tuple(c for c in args.checks.split(",") if c)
    rows = [r for r in features() if not only or r[0] in only]
    accel = "kvm" if kvm_usable() else "tcg"
    log("vm: %d kernel(s), %s" % (len(ks), "KVM" if accel == "kvm" else
                                   "no usable /dev/kvm: software emulation"))
    apt = kernels.Apt(vmdir, log)
    boots = []
    try:
        for k in ks:
            kernels.fetch(k, vmdir, apt, log)
            log("%s: %s (cached in %s)" % (k.name, k.deb, os.path.relpath(k.dir)))
            boots += [Boot(k, m) for m in k.boots]
        base = os.path.join(vmdir, "initramfs.cpio")
        initramfs.build(base, build)
        log("initramfs: %.1f MB" % (os.path.getsize(base) / 1e6))
    except (RuntimeError, OSError, ValueError) as e:
        print("FAIL vm: setup: %s" % e)
        print("vm: 0 passed, 1 failed")
        return 1
    for b in boots:
        initrd = base
        if b.k.module_files:  # concatenated cpio archives: the kernel unpacks both
            initrd = os.path.join(vmdir, "initramfs-%s.cpio" % b.k.name)
            mods = initrd + ".mods"
            c = initramfs.Cpio(mods)
            for src, dst in b.k.module_files:
                c.file(src, dst, 0o644)
            c.close()
            with open(initrd, "wb") as out:
                for part in (base, mods):
                    with open(part, "rb") as f:
                        shutil.copyfileobj(f, out)
        log("%s: booting %s%s" % (b.label, os.path.basename(b.k.vmlinuz),
                                  " lsm=" + b.lsm_arg() if b.lsm_arg() else ""))
        run_boot(b, initrd, vmdir, accel, args.timeout, only)
        for r in b.results:
            word = {"pass": "PASS", "fail": "FAIL", "notrun": "SKIP"}[r["result"]]
            name = r["name"] if r["name"].startswith(b.label + ":") else \
                "%s: %s" % (b.label, r["name"])
            print("%s %s%s" % (word, name, (": " + r["why"]) if r.get("why") else ""),
                  flush=True)
        if any(r["result"] == "fail" for r in b.results) and b.agent_log:
            print("---- %s: agent log (tail; whole log and events in %s) ----\n%s\n----" % (
                b.label, os.path.relpath(vmdir), b.agent_log[-3000:]))
        ready = (b.agent or {}).get("ready_s")
        log("%s: %.0f s (init at %s s, agent ready after %s)" % (
            b.label, b.wall, b.init_s, "%.1f s" % ready if ready else "?"))
    total = time.time() - T0
    print()
    print(table(boots, rows))
    notes = not_run_notes(boots)
    if notes:
        print("\nnot run:\n" + "\n".join(notes))
    print()
    for b in boots:
        print("time %s: %.0f s" % (b.label, b.wall))
    p = sum(r["result"] == "pass" for b in boots for r in b.results)
    f = sum(r["result"] == "fail" for b in boots for r in b.results)
    s = sum(r["result"] == "notrun" for b in boots for r in b.results)
    if not p:
        f = max(f, 1)  # a tier that ran no check is a failure
    if args.docs and not (args.smoke or args.kernels or args.boots or args.checks or
                          args.conf != ap.get_default("conf")):
        write_docs(args.docs, boots, rows, accel, total, (p, f, s))
        log("wrote %s" % args.docs)
    print("vm: %d passed, %d failed, %d skipped" % (p, f, s))
    return 1 if f else 0


if __name__ == "__main__":
    sys.exit(main())
