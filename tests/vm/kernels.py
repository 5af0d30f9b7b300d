# SPDX-License-Identifier: Apache-2.0
"""Debian kernel packages for the VM tier: resolved with apt-cache, fetched with
`apt-get download`, reduced to what a boot needs (vmlinuz, config, requested modules) in a
cache under build/vm/kernels. Nothing is installed: the host's /boot, /lib/modules and
/etc/apt are never touched. When the host's apt sources don't know a package, a private apt
configuration under build/vm/apt (bookworm, -updates, -security, -backports) is used instead.
"""
import glob
import lzma
import os
import re
import shutil
import subprocess
import tempfile

SUITES = ("bookworm", "bookworm-updates", "bookworm-backports")
MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
# a kernel image package has a full version in its name (6.1.0-57, 6.12.118+deb12); a
# metapackage has none (linux-image-amd64) or only major.minor (linux-image-6.12-amd64)
KERNEL_PKG = re.compile(r"^linux-image-\d+\.\d+\.\d+\S*-(amd64|cloud-amd64)$")


class Kernel:
    def __init__(self, name, package, boots, modules):
        self.name, self.package, self.boots, self.modules = name, package, boots, modules
        self.deb = None          # the kernel package a metapackage resolved to
        self.dir = None          # cache directory
        self.vmlinuz = self.config = self.release = None
        self.module_files = []   # (host path, guest path)


def read_conf(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            mods = [t for t in line if t.startswith("modules=")]
            line = [t for t in line if not t.startswith("modules=")]
            if len(line) < 3 or any(b not in ("default", "nobpf") for b in line[2:]):
                raise ValueError("%s:%d: expected NAME PACKAGE default|nobpf... [modules=a,b]"
                                 % (path, n))
            mods = mods[0].split("=", 1)[1].split(",") if mods else []
            out.append(Kernel(line[0], line[1], line[2:], [m for m in mods if m]))
    return out


class Apt:
    """apt-cache/apt-get with either the host's configuration or the private one."""

    def __init__(self, cache_dir, log):
        self.root = os.path.join(cache_dir, "apt")
        self.private = False
        self.log = log
        self.updated = False

    def _opts(self):
        opts = ["-o", "APT::Sandbox::User=root"]  # downloads into a root-owned build dir
        if self.private:
            r = self.root
            opts += ["-o", "Dir::Etc::SourceList=%s/sources.list" % r,
                     "-o", "Dir::Etc::SourceParts=%s/sources.list.d" % r,
                     "-o", "Dir::State::Lists=%s/lists" % r,
                     "-o", "Dir::Cache=%s/cache" % r,
                     "-o", "Dir::State::status=%s/status" % r]
        return opts

    def use_private(self):
        r = self.root
        for d in ("sources.list.d", "lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(r, d), exist_ok=True)
        with open(os.path.join(r, "sources.list"), "w") as f:
            for s in SUITES:
                f.write("deb %s %s main\n" % (MIRROR, s))
            f.write("deb %s bookworm-security main\n" % SECURITY)
        open(os.path.join(r, "status"), "a").close()
        self.private = True
        self.updated = False

    def update(self):
        self.log("apt-get update (%s sources)" % ("private" if self.private else "host"))
        r = subprocess.run(["apt-get", "update", "-qq"] + self._opts(), capture_output=True,
                           text=True)
        if r.returncode:
            raise RuntimeError("apt-get update failed: %s" % r.stderr.strip()[-1000:])
        self.updated = True

    def depends(self, pkg):
        """The package's kernel-image dependency if it is a metapackage, itself if it is a
        kernel package, None if apt does not know it."""
        r = subprocess.run(["apt-cache", "show", "--no-all-versions", pkg] + self._opts(),
                           capture_output=True, text=True)
        if r.returncode or not r.stdout.strip():
            return None
        dep = re.search(r"^Depends: (.*)$", r.stdout, re.M)
        if KERNEL_PKG.match(pkg):
            return pkg
        for d in (dep.group(1).split(",") if dep else []):
            name = d.strip().split()[0]
            if name.startswith("linux-image-"):
                return self.depends(name)
        return None

    def download(self, pkg, dest):
        r = subprocess.run(["apt-get", "download", "-qq", pkg] + self._opts(), cwd=dest,
                           capture_output=True, text=True)
        return r.returncode == 0, r.stderr.strip()


def resolve(apt, k):
    """k.deb from the host's sources; after an apt-get update, or from the private sources
    (which then serve the rest of the run), if they don't know it."""
    k.deb = apt.depends(k.package)
    if not k.deb and not apt.private and not apt.updated:
        apt.update()
        k.deb = apt.depends(k.package)
    if not k.deb and not apt.private:
        apt.use_private()
        apt.update()
        k.deb = apt.depends(k.package)
    if not k.deb:
        raise RuntimeError("no Debian package %s in the host's apt sources nor in %s" %
                           (k.package, ", ".join(SUITES + ("bookworm-security",))))


def extract(deb, out, members):
    """Extracts the named members (shell globs, ./-rooted) of deb's data into out."""
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
    r = subprocess.run(["tar", "-x", "-C", out, "--wildcards", "--no-anchored"] + members,
                       stdin=tar.stdout, capture_output=True, text=True)
    tar.stdout.close()
    tar.wait()
    if tar.returncode or r.returncode:
        raise RuntimeError("failed to extract %s from %s: %s" % (members, deb, r.stderr[-500:]))


def module_closure(moddir, names):
    """Module files (relative to moddir) for names and everything they depend on, in load
    order (dependencies first), from modules.dep."""
    deps = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
    byname = {re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", os.path.basename(p)).replace("-", "_"): p
              for p in deps}
    order = []

    def visit(p):
        if p in order:
            return
        for d in deps.get(p, []):
            visit(d)
        order.append(p)
    for n in names:
        p = byname.get(n.replace("-", "_"))
        if not p:
            raise RuntimeError("kernel module %s is not in %s/modules.dep" % (n, moddir))
        visit(p)
    return order


def fetch(k, cache_dir, apt, log):
    """Fills k.vmlinuz, k.config, k.release, k.module_files; downloads only what the cache
    lacks."""
    kdir = os.path.join(cache_dir, "kernels")
    os.makedirs(kdir, exist_ok=True)
    last = os.path.join(kdir, k.name + ".package")
    try:
        resolve(apt, k)
    except RuntimeError as e:
        # offline: the kernel this name resolved to last time, if it is still cached
        if not os.path.exists(last):
            raise
        with open(last) as f:
            k.deb = f.read().strip()
        log("%s: %s; using the cached %s" % (k.name, e, k.deb))
    k.dir = os.path.join(kdir, k.deb)
    k.release = k.deb[len("linux-image-"):]
    stamp = os.path.join(k.dir, ".complete")
    want_mods = ",".join(k.modules)
    if not (os.path.exists(stamp) and open(stamp).read() == want_mods):
        tmp = tempfile.mkdtemp(prefix="dl-", dir=kdir)
        try:
            ok, err = apt.download(k.deb, tmp)
            if not ok and not apt.updated:
                apt.update()  # an old list names a version the archive no longer has
                ok, err = apt.download(k.deb, tmp)
            if not ok:
                raise RuntimeError("failed to download %s: %s" % (k.deb, err[-500:]))
            deb = glob.glob(os.path.join(tmp, "*.deb"))[0]
            log("%s: downloaded %s (%.0f MB)" % (k.name, os.path.basename(deb),
                                                 os.path.getsize(deb) / 1e6))
            x = os.path.join(tmp, "x")
            os.mkdir(x)
            extract(deb, x, ["boot/vmlinuz-*", "boot/config-*"])
            mods, moddir = [], None
            if k.modules:
                # the package ships no modules.dep (depmod makes it at install): made here,
                # in the extracted tree only
                extract(deb, x, ["lib/modules/*"])
                moddir = glob.glob(os.path.join(x, "lib/modules/*"))[0]
                r = subprocess.run(["depmod", "-b", x, os.path.basename(moddir)],
                                   capture_output=True, text=True)
                if r.returncode:
                    raise RuntimeError("depmod failed for %s: %s" % (k.deb, r.stderr[-500:]))
                mods = module_closure(moddir, k.modules)
            shutil.rmtree(k.dir, ignore_errors=True)
            os.makedirs(os.path.join(k.dir, "modules"))
            for f in glob.glob(os.path.join(x, "boot", "*")):
                shutil.move(f, os.path.join(k.dir, os.path.basename(f)))
            for i, m in enumerate(mods):
                src = os.path.join(moddir, m)
                base = re.sub(r"\.(xz|zst|gz)$", "", os.path.basename(m))
                dst = os.path.join(k.dir, "modules", "%02d-%s" % (i, base))
                if m.endswith(".xz"):  # busybox insmod takes plain .ko
                    with lzma.open(src) as fi, open(dst, "wb") as fo:
                        shutil.copyfileobj(fi, fo)
                else:
                    shutil.copy(src, dst)
            with open(stamp, "w") as f:
                f.write(want_mods)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    with open(last, "w") as f:
        f.write(k.deb)
    k.vmlinuz = glob.glob(os.path.join(k.dir, "vmlinuz-*"))[0]
    k.config = glob.glob(os.path.join(k.dir, "config-*"))[0]
    # under usr/: the base archive has lib -> usr/lib, and an archive unpacked after it replaces
    # an entry of another type (a "lib" directory would remove that link)
    k.module_files = [(p, "/usr/lib/modules/aitrail-vm/" + os.path.basename(p))
                      for p in sorted(glob.glob(os.path.join(k.dir, "modules", "*")))]
    return k


def config_lsm(k):
    """The kernel's built-in LSM order (CONFIG_LSM)."""
    with open(k.config) as f:
        m = re.search(r'^CONFIG_LSM="([^"]*)"', f.read(), re.M)
    return m.group(1).split(",") if m else []
