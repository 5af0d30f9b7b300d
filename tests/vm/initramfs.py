# SPDX-License-Identifier: Apache-2.0
"""The guest's root file system: one uncompressed cpio (newc) the kernel unpacks into its rootfs.

It holds the project's build (agent, fixtures), the guest side of the VM tier (tests/vm/guest,
tests/vm/checks, tests/e2e/lib.py), busybox for init and the usual tools, the few real programs
sessions exec (/bin/sh is dash, /bin/true and /bin/echo are coreutils: what a session on a
fleet host runs), python3 with only the standard-library modules the guest code imports, and
every shared library of each ELF (found with ldd). Written by hand so no cpio tool is needed.
"""
import os
import stat
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GUEST_ROOT = "/opt/aitrail"  # where the repository's files live inside the guest


class Cpio:
    """newc archive writer. Directory symlinks it holds are followed when naming later
    entries (as the kernel will when unpacking), parents are made on demand, and the first
    entry for a path wins."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.ino = 1
        self.seen = set()
        self.links = {}  # name -> target, for symlinks

    def resolve(self, name):
        """name with every symlinked directory component replaced by its target."""
        parts, out = name.strip("/").split("/"), []
        for i, part in enumerate(parts):
            out.append(part)
            cur = "/".join(out)
            if i < len(parts) - 1 and cur in self.links:
                t = self.links[cur]
                base = "" if t.startswith("/") else os.path.dirname(cur)
                out = self.resolve(os.path.normpath(os.path.join("/", base, t))).split("/")
        return "/".join(out)

    def _entry(self, name, mode, data=b"", nlink=1):
        if name in self.seen:
            return
        self.seen.add(name)
        nb = name.encode() + b"\0"
        hdr = "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(nb), 0)
        self.ino += 1
        self.f.write(hdr.encode() + nb)
        self.f.write(b"\0" * ((4 - (110 + len(nb)) % 4) % 4))
        self.f.write(data)
        self.f.write(b"\0" * ((4 - len(data) % 4) % 4))

    def dir(self, name):
        name = self.resolve(name)
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), stat.S_IFDIR | 0o755, nlink=2)

    def _place(self, name):
        name = self.resolve(name)
        d = os.path.dirname(name)
        if d:
            self.dir(d)
        return name

    def data(self, name, data, mode=0o644):
        self._entry(self._place(name), stat.S_IFREG | mode, data)

    def file(self, src, name, mode=None):
        with open(src, "rb") as f:
            data = f.read()
        self.data(name, data, mode if mode is not None else (os.stat(src).st_mode & 0o777))

    def symlink(self, name, target):
        name = self._place(name)
        if name not in self.seen:
            self.links[name] = target
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def has(self, name):
        return self.resolve(name) in self.seen

    def host_path(self, path):
        """path as the host has it: each symlink on the way (directory or file) becomes the
        same symlink here, then the file itself."""
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            cur = "/" + "/".join(parts[:i])
            if os.path.islink(cur):
                t = os.readlink(cur)
                self.symlink(cur, t)
                target = os.path.normpath(os.path.join(os.path.dirname(cur), t))
                return self.host_path(os.path.join(target, *parts[i:]))
        if not self.has(path):
            self.file(path, path)

    def close(self):
        self._entry("TRAILER!!!", 0, b"")
        self.f.close()


def shared_libs(elf):
    """The libraries ldd resolves for elf (absolute paths, the loader included)."""
    out = subprocess.run(["ldd", elf], capture_output=True, text=True)
    if out.returncode != 0:
        if "not a dynamic executable" in out.stdout + out.stderr:
            return []
        raise RuntimeError("failed to list the libraries of %s: %s" % (elf, out.stderr.strip()))
    libs = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if "=> not found" in line:
            raise RuntimeError("%s needs %s, which is not installed" % (elf, line.split()[0]))
        if "=>" in line:
            p = line.split("=>")[1].split("(")[0].strip()
        else:
            p = line.split("(")[0].strip()
        if p.startswith("/"):
            libs.append(p)
    return libs


def add_elf(cpio, src, name=None):
    """An executable (as name) or a library, and every library ldd says it needs, under the
    paths the host's loader finds them (the host's /lib -> usr/lib style links included)."""
    if name:
        cpio.file(os.path.realpath(src), name)
    else:
        cpio.host_path(src)
    for lib in shared_libs(src):
        cpio.host_path(lib)


def python_files(python, guest_dirs, modules):
    """Standard-library files the guest code imports: the modules python loads after importing
    `modules` from guest_dirs, in the mode the guest runs it (-I -S, C locale)."""
    code = ("import sys\nsys.path[:0] = %r\n"
            "for m in %r: __import__(m)\n"
            "import importlib.util\n"
            "for m in list(sys.modules.values()):\n"
            "    f = getattr(m, '__file__', None)\n"
            "    if f and f.startswith(sys.base_prefix):\n"
            "        print(f)\n"
            "        try:\n"
            "            c = importlib.util.cache_from_source(f)\n"
            "            print(c)\n"
            "        except (ValueError, NotImplementedError):\n"
            "            pass\n" % (list(guest_dirs), list(modules)))
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    out = subprocess.run([python, "-B", "-I", "-S", "-c", code], capture_output=True, text=True,
                         env=env, cwd="/")
    if out.returncode != 0:
        raise RuntimeError("failed to list python modules for the guest: %s" % out.stderr[-2000:])
    return sorted({p for p in out.stdout.split() if os.path.exists(p)})


def host_python():
    """Debian's python3 (a pyenv or venv on PATH would bring a foreign stdlib)."""
    if not os.access("/usr/bin/python3", os.X_OK):
        raise RuntimeError("/usr/bin/python3 is missing (make deps installs python3)")
    return os.path.realpath("/usr/bin/python3")


def build(out_path, build_dir):
    """Writes the initramfs to out_path (kernel modules go in a second archive, per kernel)."""
    build_dir = os.path.abspath(build_dir)
    busybox = "/bin/busybox"
    if not os.access(busybox, os.X_OK):
        raise RuntimeError("%s is missing (make deps-vm installs busybox-static)" % busybox)
    c = Cpio(out_path + ".tmp")
    for d in ("proc", "sys", "dev", "tmp", "run", "root", "etc", "var/lib", "var/tmp",
              "sys/fs/cgroup", "sys/kernel/tracing", "sys/kernel/security", "sys/fs/bpf"):
        c.dir(d)
    c.data("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
    c.data("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    c.data("etc/hosts", b"127.0.0.1 localhost\n::1 localhost\n")
    c.data("etc/machine-id", b"a17a11a17a11a17a11a17a11a17a11a1\n")
    # real programs that sessions exec, before busybox's applet links take the names
    for prog, name in (("/bin/dash", "bin/sh"), ("/bin/true", "bin/true"),
                       ("/bin/echo", "bin/echo")):
        add_elf(c, prog, name)
    py = host_python()
    add_elf(c, py, "usr/bin/python3")
    c.symlink("usr/bin/" + os.path.basename(py), "python3")
    c.file(busybox, "bin/busybox", 0o755)
    for applet in subprocess.run([busybox, "--list-full"], capture_output=True, text=True,
                                 check=True).stdout.split():
        if not c.has(applet):
            c.symlink(applet, "/bin/busybox")
    # the project
    add_elf(c, os.path.join(build_dir, "aitrail-agent"), GUEST_ROOT + "/build/aitrail-agent")
    fixtures = os.path.join(build_dir, "tests", "fixtures")
    for f in sorted(os.listdir(fixtures)):
        p = os.path.join(fixtures, f)
        if os.path.isfile(p) and os.access(p, os.X_OK) and not f.endswith(".d"):
            add_elf(c, p, GUEST_ROOT + "/build/tests/fixtures/" + f)
    guest_py = []
    # checks reuse the e2e tests' helpers and expectations (lib.py, test_files.py, ...)
    e2e = os.path.join(REPO, "tests", "e2e")
    for f in sorted(os.listdir(e2e)):
        if f.endswith(".py"):
            c.file(os.path.join(e2e, f), GUEST_ROOT + "/tests/e2e/" + f)
    for sub in ("tests/vm/guest", "tests/vm/checks"):
        for f in sorted(os.listdir(os.path.join(REPO, sub))):
            if f.endswith(".py") or f == "init":
                c.file(os.path.join(REPO, sub, f), GUEST_ROOT + "/" + sub + "/" + f)
                if f.endswith(".py"):
                    guest_py.append((sub, f[:-3]))
    c.file(os.path.join(REPO, "tests/vm/guest/init"), "init", 0o755)
    dirs = sorted({os.path.join(REPO, s) for s, _ in guest_py} |
                  {os.path.join(REPO, "tests/e2e")})
    mods = [m for _, m in guest_py] + ["lib"]
    for f in python_files(py, dirs, mods):
        if f.endswith(".so"):
            add_elf(c, f)
        else:
            c.host_path(f)
    c.close()
    os.replace(out_path + ".tmp", out_path)
    return out_path
