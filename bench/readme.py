#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Puts the latest `make bench` table into README.md's "Performance" section (replacing that
section only; every other section is left alone).

Usage: bench/readme.py [build/bench/table.md] [README.md]
"""
import sys

INTRO = """## Performance

What aitrail costs the host, side by side with Linux auditd doing the same audit. Reproduce
with `make bench` as root (about 5-10 minutes on 2 cores): it measures, in one run, the host
with no audit, with aitrail (agent + collector on loopback, every event shipped into the SQLite
store) and with auditd (rules for the same syscalls), prints these tables and writes JSON under
`build/bench/` (`results.json`). The bench undoes everything it changes (agent, collector,
auditd and its rules, audit enabled flag and backlog, `kernel.bpf_stats_enabled`, temp files).
The workloads are `bench/loops.c`; the driver is `bench/run.sh` / `bench/bench.py`.

"""


def main():
    table = sys.argv[1] if len(sys.argv) > 1 else "build/bench/table.md"
    readme = sys.argv[2] if len(sys.argv) > 2 else "README.md"
    with open(table) as f:
        body = f.read()
    with open(readme) as f:
        lines = f.read().split("\n")
    start = next((i for i, l in enumerate(lines) if l.strip() == "## Performance"), None)
    if start is None:
        head, tail = lines, []
        while head and not head[-1].strip():
            head.pop()
        head.append("")
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        head, tail = lines[:start], lines[end:]
    text = "\n".join(head) + "\n" + INTRO + body.rstrip("\n") + "\n"
    if tail:
        text += "\n" + "\n".join(tail)
    with open(readme, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
