#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""File-level call graph of C objects, from nm: which file defines and which file uses each symbol.

    tools/callgraph.py build/obj/collector            every *.o in the directory
    tools/callgraph.py build/obj/agent/*.o main.o     a list of objects
    tools/callgraph.py --edges DIR                    also print every edge and its symbols
    tools/callgraph.py --dot DIR > graph.dot          Graphviz, for a picture

An edge a.c -> b.c means a.o has an undefined symbol that b.o defines (a call, or a reference to
a table or variable). Symbols defined outside the objects given (libc, common/, libraries) are
not edges. Calls through function pointers (an ops table's entries) are not seen: they are the
way a lower layer calls back up without a link-time dependency.

Prints one line per call loop (a cycle between files, with the symbols of each step) and a
closing count; exits 1 when there is a loop, 2 on bad arguments.
"""
import argparse
import os
import subprocess
import sys


def objects(args):
    out = []
    for a in args:
        if os.path.isdir(a):
            found = sorted(os.path.join(a, f) for f in os.listdir(a) if f.endswith(".o"))
            if not found:
                sys.exit(f"callgraph: {a}: no .o files (build first: make -j2)")
            out += found
        elif a.endswith(".o") and os.path.isfile(a):
            out.append(a)
        else:
            sys.exit(f"callgraph: {a}: not a directory or an object file")
    return out


def label(path):
    """build/obj/collector/api.o -> collector/api.c: the source a reader knows."""
    p = os.path.normpath(path)
    parts = p.split(os.sep)
    if "obj" in parts:
        parts = parts[len(parts) - 1 - parts[::-1].index("obj") + 1:]
    return os.path.join(*parts)[:-2] + ".c"


def symbols(obj):
    """(defined, undefined) global symbol sets of one object."""
    try:
        res = subprocess.run(["nm", "-P", "-g", obj], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"callgraph: failed to read symbols of {obj}: {e}")
    defined, undefined = set(), set()
    for line in res.stdout.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        name, kind = f[0], f[1]
        if kind in ("U", "w", "v") and len(f) == 2:
            undefined.add(name)
        elif kind not in ("U",):
            defined.add(name)
    return defined, undefined


def graph(objs):
    files = [label(o) for o in objs]
    definer, uses = {}, {}
    for o, f in zip(objs, files):
        d, u = symbols(o)
        for s in d:
            if s in definer and definer[s] != f:
                print(f"callgraph: {s} is defined in {definer[s]} and {f} (a stale object?)",
                      file=sys.stderr)
            definer.setdefault(s, f)
        uses[f] = u
    edges = {f: {} for f in files}
    for f in files:
        for s in uses[f]:
            g = definer.get(s)
            if g and g != f:
                edges[f].setdefault(g, []).append(s)
    return files, edges


def sccs(files, edges):
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index, low, on, stack, out, n = {}, {}, set(), [], [], 0
    for root in files:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = n
        n += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = n
                    n += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def a_cycle(comp, edges):
    """One shortest loop through the component's first file, as a list of files."""
    start, members = comp[0], set(comp)
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges[v]):
            if w not in members:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return comp + [comp[0]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", help="directories of .o files, or .o files")
    ap.add_argument("--edges", action="store_true", help="print every edge with its symbols")
    ap.add_argument("--dot", action="store_true", help="print the graph in Graphviz form")
    a = ap.parse_args()
    files, edges = graph(objects(a.paths))
    if a.dot:
        print("digraph calls {\n\trankdir=LR;")
        for f in files:
            for g in sorted(edges[f]):
                print(f'\t"{f}" -> "{g}";')
        print("}")
    if a.edges:
        for f in files:
            for g in sorted(edges[f]):
                print(f"{f} -> {g}: {', '.join(sorted(edges[f][g]))}")
    loops = [c for c in sccs(files, edges) if len(c) > 1]
    for c in loops:
        path = a_cycle(c, edges)
        steps = [f"{x} -({', '.join(sorted(edges[x][y])[:3])})-> " for x, y in zip(path, path[1:])]
        print(f"loop among {len(c)} files ({' '.join(c)}): {''.join(steps)}{path[-1]}",
              file=sys.stderr if a.dot else sys.stdout)
    n_edges = sum(len(e) for e in edges.values())
    print(f"callgraph: {len(files)} files, {n_edges} edges, {len(loops)} call loops",
          file=sys.stderr if a.dot else sys.stdout)
    return 1 if loops else 0


if __name__ == "__main__":
    sys.exit(main())
