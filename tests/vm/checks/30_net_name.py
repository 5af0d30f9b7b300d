# SPDX-License-Identifier: Apache-2.0
"""Connect with a name: a session resolves a name through a fake DNS server on its own
loopback address and connects to the answer (dst_name from DNS), sends a TLS ClientHello
(dst_name from SNI), and resolves over TCP where the kernel lets the agent parse it."""
import socket

import lib
import test_net

FEATURE = "net_name"
TITLE = "connect named by DNS and SNI"


def act(ctx):
    codex = ctx.fixture("codex")
    lst = test_net.Listener(socket.AF_INET, ("127.0.0.1", 0))
    dns = test_net.FakeDns("127.0.0.1")
    p = str(lst.addr[1])
    try:
        r = lib.run([codex, "dns", dns.addr, "api.example.test", "tcp", "127.0.0.1", p,
                     "tls-hello", "127.0.0.1", p, "api.anthropic.test",
                     "dns-tcp", dns.addr, "api.tcpdns.test", "tcp", "127.0.0.1", p])
    finally:
        lst.close()
        dns.close()
    return r, dns.addr


def fields(r, prefix, n):
    lines = [ln for ln in r.out.splitlines() if ln.startswith(prefix + " ")]
    if n >= len(lines):
        return {}
    return dict(t.split("=", 1) for t in lines[n].split()[1:] if "=" in t)


def judge(ctx, state):
    r, server = state
    if not ctx.check("net: fixture ran", r.rc == 0, "rc %s %s" % (r.rc, r.err[-500:])):
        return
    mine = lib.session_events(ctx.events, r.pid)
    conns = [e for e in mine if e["type"] == "net_connect"]

    def by_sport(n, what):
        sport = int(fields(r, what, n).get("sport", -1))
        return [e for e in conns if e.get("sport") == sport]

    q = [e for e in mine if e["type"] == "dns_answer" and e.get("qname") == "api.example.test"]
    ctx.check("net: dns_answer from the session's own port-53 traffic",
              len(q) == 1 and q[0].get("answers") == ["api.example.test A 127.0.0.1"], str(q))
    ev = by_sport(0, "tcp")
    ctx.check("net: connect after the DNS answer named from it (name_source dns)",
              len(ev) == 1 and ev[0].get("dst_name") == "api.example.test" and
              ev[0].get("name_source") == "dns", str(ev)[:500])
    ev = by_sport(0, "tls-hello")
    ctx.check("net: TLS ClientHello names the connection (name_source tls_sni, vendor)",
              len(ev) == 1 and ev[0].get("dst_name") == "api.anthropic.test" and
              ev[0].get("name_source") == "tls_sni", str(ev)[:500])
    off = ctx.parts_off.get("DNS over TCP")
    if off:
        ctx.notrun("net: connect after a DNS-over-TCP answer named from it",
                   "the agent runs no DNS over TCP on this kernel: %s" % off)
        ctx.note("mechanism", "DNS over UDP; over TCP off (%s)" % off)
        return
    ctx.note("mechanism", "DNS over UDP and TCP")
    ev = by_sport(1, "tcp")
    ctx.check("net: connect after a DNS-over-TCP answer named from it",
              len(ev) == 1 and ev[0].get("dst_name") == "api.tcpdns.test" and
              ev[0].get("name_source") == "dns", str(ev)[:500])
