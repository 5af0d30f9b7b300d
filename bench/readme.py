#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes docs/performance.md from the latest `make bench` table.

Usage: bench/readme.py [build/bench/table.md] [docs/performance.md]
"""
import sys

INTRO = """# Performance

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
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/performance.md"
    with open(table) as f:
        body = f.read()
    # the table's sections are "### X" under the README's old "## Performance": one level up here
    body = "\n".join(l[1:] if l.startswith("### ") else l for l in body.split("\n"))
    with open(out, "w") as f:
        f.write(INTRO + body.rstrip("\n") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
