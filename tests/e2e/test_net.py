#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""net_connect end to end: the test runs its own loopback listeners (TCP v4 and v6, UDP, unix,
abstract unix, a fake DNS server on 127.53.x.y:53), runs the agentfix fixture as `codex`, and
checks each connect's event against what the fixture and the listeners saw: family, proto,
daddr, dport, sport (= the port the listener accepted from), result, non-blocking outcome,
first-datagram dedup, a double-forked grandchild, names from DNS answers and from an HTTP proxy
CONNECT. The same fixture under a neutral name must produce no network events."""
import os
import random
import json
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402


class Listener:
    """Accepts connections in a thread and records the peer port (or just the count)."""

    def __init__(self, family, addr):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(addr)
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.addr = self.sock.getsockname()
        self.peers = []
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                c, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            self.peers.append(peer[1] if isinstance(peer, tuple) else peer)

    def close(self):
        self.stop = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


def dns_name(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"


def dns_answer(q, records):
    """The answer to query q carrying records: (owner or None for the question's name, type,
    rdata) each."""
    end = 12
    while q[end]:
        end += 1 + q[end]
    end += 5  # the root label, QTYPE, QCLASS
    out = q[:2] + struct.pack("!HHHHH", 0x8180, 1, len(records), 0, 0) + q[12:end]
    for owner, rtype, rdata in records:
        out += (dns_name(owner) if owner else b"\xc0\x0c") + \
            struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata
    return out


class FakeDns:
    """Answers every A query with one address, on its own 127.53.x.y:53, over UDP and TCP.
    Over TCP the A answer's two-byte length prefix and its body go in separate segments, and
    AAAA gets AAAA_RECORDS records of ::1 under long owner names: an answer past 512 bytes,
    the reason resolvers fall back to TCP, sent in two segments as a long answer crosses the
    network."""
    AAAA_RECORDS = 12

    def __init__(self, answer):
        self.answer = socket.inet_aton(answer)
        for _ in range(20):
            self.addr = "127.53.%d.%d" % (random.randint(1, 254), random.randint(1, 254))
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.tsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                self.sock.bind((self.addr, 53))
                self.tsock.bind((self.addr, 53))
                break
            except OSError:
                self.sock.close()
                self.tsock.close()
        else:
            raise RuntimeError("no free 127.53.x.y:53 address for the fake DNS server")
        self.tsock.listen(4)
        self.sock.settimeout(0.2)
        self.tsock.settimeout(0.2)
        self.queries = 0
        self.tcp_queries = []
        self.tcp_answer_bytes = []
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.tthread = threading.Thread(target=self._run_tcp, daemon=True)
        self.tthread.start()

    def _run(self):
        while not self.stop:
            try:
                q, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            self.sock.sendto(dns_answer(q, [(None, 1, self.answer)]), peer)

    def _answer_tcp(self, q):
        qtype = struct.unpack("!H", q[-4:-2])[0]
        if q[13:16] == b"big":  # past the 2048 bytes a message is kept to, in one segment
            return dns_answer(q, [("r%02d.a-label-long-enough-to-push-the-answer-past-2048-b.big"
                                   ".test" % i, 1, self.answer) for i in range(40)])
        if qtype == 28:
            name = q[13:13 + q[12]].decode()  # first label, enough to build owners
            recs = [("h%02d.a-label-long-enough-to-push-the-answer-past-512-bytes.%s.test"
                     % (i, name), 28, socket.inet_pton(socket.AF_INET6, "::1"))
                    for i in range(self.AAAA_RECORDS)]
            return dns_answer(q, recs)
        return dns_answer(q, [(None, 1, self.answer)])

    def _run_tcp(self):
        while not self.stop:
            try:
                c, _ = self.tsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with c:
                c.settimeout(5)
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buf = b""
                try:
                    while True:  # until the client closes
                        d = c.recv(4096)
                        if not d:
                            break
                        buf += d
                        qs = []
                        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                            n = struct.unpack("!H", buf[:2])[0]
                            qs.append(buf[2:2 + n])
                            buf = buf[2 + n:]
                        self.tcp_queries += qs
                        for q in qs:
                            if q[13:17] == b"many":
                                continue  # the flood of queries gets no answers
                            a = self._answer_tcp(q)
                            self.tcp_answer_bytes.append(len(a))
                            pre = struct.pack("!H", len(a))
                            if q[13:16] == b"big":
                                # 2500 bytes in the first segment: past what is kept, not all
                                c.sendall(pre + a[:2500])
                                time.sleep(0.05)
                                c.sendall(a[2500:])
                            elif struct.unpack("!H", q[-4:-2])[0] == 1:
                                c.sendall(pre)  # the prefix alone, then the body
                                time.sleep(0.05)
                                c.sendall(a)
                            else:
                                # the big answer spans two segments
                                c.sendall(pre + a[:600])
                                time.sleep(0.05)
                                c.sendall(a[600:])
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.tthread.join(2)
        self.sock.close()
        self.tsock.close()


def free_closed_port():
    """A port nobody listens on: bound (so nobody else takes it) but not listening."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def hold_sport(proc):
    """The sport a tcp-hold fixture reports (its second line)."""
    for _ in range(2):
        line = proc.stdout.readline().decode()
        if line.startswith("tcp-hold "):
            return int(dict(t.split("=", 1) for t in line.split()[1:])["sport"])
    return -1


def partial_events(path):
    """Events the running agent has written so far (a line being written is skipped)."""
    out = []
    with open(path, "rb") as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def net(events, pid=None):
    return [e for e in events if e["type"] == "net_connect" and
            (pid is None or e["proc"]["pid"] == pid)]


def main():
    t = lib.Test("net")
    codex = t.fixture("codex")
    worker = t.fixture("worker")

    tcp4 = Listener(socket.AF_INET, ("127.0.0.1", 0))
    try:
        tcp6 = Listener(socket.AF_INET6, ("::1", 0))
    except OSError as e:
        tcp6 = None
        t.skip("ipv6 connect", "cannot listen on ::1: %s" % e)
    upath = t.path("listen.sock")
    unix = Listener(socket.AF_UNIX, upath)
    abstract = "@aitrail-e2e-net-%d" % random.randint(0, 1 << 30)
    uabs = Listener(socket.AF_UNIX, "\0" + abstract[1:])
    closed_sock, closed = free_closed_port()
    udp = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    for u in udp:
        u.bind(("127.0.0.1", 0))
    u1, u2, u3 = (u.getsockname()[1] for u in udp)
    dns = FakeDns("127.0.0.1")
    p4 = str(tcp4.addr[1])

    actions = [
        "tcp", "127.0.0.1", p4,
        "tcp", "127.0.0.1", str(closed),
        "tcp-nb", "127.0.0.1", p4,
        "tcp-nb", "127.0.0.1", str(closed),
        "udp-sendto", "127.0.0.1", str(u1), str(u2),
        "udp-connect", "127.0.0.1", str(u3),
        "unix", upath,
        "unix", abstract,
        "tcp-grandchild", "127.0.0.1", p4,
        "tcp-send", "127.0.0.1", p4, "CONNECT api.proxied.test:443 HTTP/1.1\\r\\n\\r\\n",
        "tls-hello", "127.0.0.1", p4, "api.anthropic.test",
        "dns", dns.addr, "api.example.test",
        "tcp", "127.0.0.1", p4,
        "tls-hello", "127.0.0.1", p4, "API.Example.test",
        "tls-hello", "127.0.0.1", p4, "api.fronted.test",
        "dns-tcp", dns.addr, "api.tcpdns.test",
        "tcp", "127.0.0.1", p4,
        "dns-tcp-many", dns.addr, "many.tcpdns.test", "6",
        "dns-tcp-big", dns.addr, "tcpdns.test",
    ]
    if tcp6:
        actions += ["tcp", "::1", str(tcp6.addr[1])]

    agent = lib.Agent(t.build)
    try:
        agent.start()
        r = lib.run([codex] + actions)
        ctl = lib.run([worker, "tcp", "127.0.0.1", p4, "udp-sendto", "127.0.0.1", str(u1),
                       str(u2)])
        # an idle connection is reported while it is still open (the agent's sweep)
        idle = subprocess.Popen([codex, "tcp-hold", "127.0.0.1", p4, "5000"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        idle_sport = hold_sport(idle)
        seen_open = lib.wait_for(lambda: any(
            e.get("sport") == idle_sport for e in net(partial_events(agent.out_path), idle.pid)),
            timeout=4)
        open_still = idle.poll() is None
        idle.kill()
        idle.wait()
        # a connection opened just before the agent stops is reported at shutdown
        last = subprocess.Popen([codex, "tcp-hold", "127.0.0.1", p4, "60000"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        last_sport = hold_sport(last)
    finally:
        agent.stop()
        for x in ("idle", "last"):
            proc = locals().get(x)
            if proc and proc.poll() is None:
                proc.kill()
                proc.wait()
        for x in (tcp4, tcp6, unix, uabs, dns):
            if x:
                x.close()
        closed_sock.close()
        for u in udp:
            u.close()

    if not t.check("fixture ran", r.rc == 0, "rc %s, stderr %r" % (r.rc, r.err[-500:])):
        t.finish()
    mine = lib.session_events(agent.events, r.pid)
    conns = net(mine)
    lines = r.out.splitlines()

    def line_fields(prefix, n):
        """key=value fields of the n-th stdout line starting with prefix."""
        found = [ln for ln in lines if ln.startswith(prefix + " ")]
        if n >= len(found):
            return {}
        return dict(tok.split("=", 1) for tok in found[n].split()[1:])

    def by_sport(sport, **kw):
        return [e for e in conns if e.get("sport") == sport and
                all(e.get(k) == v for k, v in kw.items())]

    def show(evs):
        return "; ".join("%s %s %s:%s<-%s:%s result=%s nb=%s" % (
            e["syscall"], e["proto"], e["daddr"], e.get("dport"), e.get("saddr"),
            e.get("sport"), e.get("result"), e.get("nonblocking")) for e in evs) or "none"

    # blocking TCP connect: the sport is the port the listener accepted from
    f = line_fields("tcp", 0)
    sport = int(f.get("sport", -1))
    ev = by_sport(sport, syscall="connect", daddr="127.0.0.1")
    t.check("tcp connect: one event with family, proto, daddr, dport, sport, result",
            len(ev) == 1 and ev[0]["family"] == "inet" and ev[0]["proto"] == "tcp" and
            ev[0]["dport"] == tcp4.addr[1] and ev[0]["result"] == 0 and
            ev[0]["saddr"] == "127.0.0.1" and not ev[0].get("nonblocking") and
            sport in tcp4.peers,
            "fixture sport %s, listener saw %s, events: %s" % (sport, tcp4.peers, show(conns)))
    t.check("tcp connect before the DNS answer carries no name",
            len(ev) == 1 and not ev[0].get("dst_name"), show(ev))

    refused = [e for e in conns if e["dport"] == closed]
    t.check("refused connect: ECONNREFUSED, blocking and non-blocking, one event each",
            sorted(bool(e.get("nonblocking")) for e in refused) == [False, True] and
            all(e["result"] == "ECONNREFUSED" and e["proto"] == "tcp" for e in refused),
            show(refused))

    f = line_fields("tcp-nb", 0)
    sport = int(f.get("sport", -1))
    ev = by_sport(sport, syscall="connect")
    t.check("non-blocking connect: the real outcome (0), marked non-blocking, once",
            f.get("result") == "0" and len(ev) == 1 and ev[0]["result"] == 0 and
            ev[0].get("nonblocking") is True and sport in tcp4.peers,
            "fixture %s, events for sport %s: %s" % (f, sport, show(ev)))

    f = line_fields("udp-sendto", 0)
    sport = int(f.get("sport", -1))
    ev = by_sport(sport, syscall="sendto")
    t.check("unconnected UDP: one event per destination (2 sends to one, 1 to another)",
            sorted(e["dport"] for e in ev) == sorted([u1, u2]) and
            all(e["proto"] == "udp" and e["daddr"] == "127.0.0.1" and e["result"] == 0
                for e in ev), "sport %s: %s" % (sport, show(ev)))

    f = line_fields("udp-connect", 0)
    sport = int(f.get("sport", -1))
    ev = by_sport(sport)
    t.check("connected UDP: the connect only, not its sends",
            len(ev) == 1 and ev[0]["syscall"] == "connect" and ev[0]["proto"] == "udp" and
            ev[0]["dport"] == u3 and ev[0]["result"] == 0, "sport %s: %s" % (sport, show(ev)))

    ev = [e for e in conns if e["family"] == "unix" and e["daddr"] == upath]
    t.check("unix stream connect to a path",
            len(ev) == 1 and ev[0]["proto"] == "unix-stream" and ev[0]["result"] == 0 and
            len(unix.peers) == 1, show([e for e in conns if e["family"] == "unix"]))
    ev = [e for e in conns if e["family"] == "unix" and e["daddr"] == abstract]
    t.check("unix connect to an abstract name, shown with '@'",
            len(ev) == 1 and ev[0]["result"] == 0 and ev[0]["proto"] == "unix-stream",
            show([e for e in conns if e["family"] == "unix"]))

    f = line_fields("tcp-grandchild", 0)
    gpid, sport = int(f.get("pid", -1)), int(f.get("sport", -1))
    ev = by_sport(sport, syscall="connect")
    t.check("double-forked grandchild's connect, in the session, after its parent exited",
            len(ev) == 1 and ev[0]["proc"]["pid"] == gpid and gpid != r.pid and
            ev[0]["result"] == 0 and sport in tcp4.peers,
            "grandchild %s sport %s: %s" % (gpid, sport, show(ev)))

    f = line_fields("tcp-send", 0)
    sport = int(f.get("sport", -1))
    ev = by_sport(sport)
    t.check("proxy CONNECT names the connection (dst_name from the first write)",
            len(ev) == 1 and ev[0].get("dst_name") == "api.proxied.test" and
            ev[0].get("name_source") == "http_connect", show(ev))

    f = line_fields("tls-hello", 0)
    sport = int(f.get("sport", -1))
    ev = by_sport(sport)
    t.check("TLS ClientHello names the connection (dst_name from SNI)",
            len(ev) == 1 and ev[0].get("dst_name") == "api.anthropic.test" and
            ev[0].get("name_source") == "tls_sni", show(ev))

    q = [e for e in mine if e["type"] == "dns_query" and e["qname"] == "api.example.test"]
    a = [e for e in mine if e["type"] == "dns_answer" and e["qname"] == "api.example.test"]
    t.check("dns_query and dns_answer from the session's own port-53 traffic",
            dns.queries == 1 and len(q) == 1 and len(a) == 1 and q[0]["server"] == dns.addr and
            q[0]["qtype"] == "A" and a[0]["rcode"] == "NOERROR" and
            a[0].get("answers") == ["api.example.test A 127.0.0.1"],
            "server saw %d queries; query %s; answer %s" % (dns.queries, q, a))

    f = line_fields("tcp", 2)
    sport = int(f.get("sport", -1))
    ev = by_sport(sport)
    t.check("connect after the DNS answer: dst_name from it (name_source dns)",
            len(ev) == 1 and ev[0].get("dst_name") == "api.example.test" and
            ev[0].get("name_source") == "dns", "sport %s: %s" % (sport, show(ev)))

    # DNS over TCP: both queries in one segment, the A answer's prefix and body in two
    tq = [e for e in mine if e["type"] == "dns_query" and e["qname"] == "api.tcpdns.test"]
    ta = [e for e in mine if e["type"] == "dns_answer" and e["qname"] == "api.tcpdns.test"]
    f = line_fields("dns-tcp", 0)
    t.check("dns-tcp fixture read both answers", f.get("answers") == "2", str(f))
    t.check("DNS over TCP: both queries of one segment, as dns_query with transport tcp",
            sum(1 for q in dns.tcp_queries if q[13:16] == b"api") == 2 and
            sorted(e["qtype"] for e in tq) == ["A", "AAAA"] and
            all(e.get("transport") == "tcp" and e["server"] == dns.addr and
                e.get("server_port") == 53 and e["proc"]["pid"] == r.pid for e in tq),
            "server saw %d; queries %s" % (len(dns.tcp_queries), tq))
    a_ans = [e for e in ta if e["qtype"] == "A"]
    aaaa = [e for e in ta if e["qtype"] == "AAAA"]
    t.check("DNS over TCP: the A answer whose length prefix came in its own segment",
            len(a_ans) == 1 and a_ans[0].get("answers") == ["api.tcpdns.test A 127.0.0.1"] and
            a_ans[0].get("transport") == "tcp" and not a_ans[0].get("truncated"), str(a_ans))
    t.check("DNS over TCP: an answer past 512 bytes (%s bytes), in two segments, parsed whole" %
            (dns.tcp_answer_bytes[1:] or "?"),
            len(aaaa) == 1 and len(aaaa[0].get("answers", [])) == FakeDns.AAAA_RECORDS and
            all(x.endswith(" AAAA ::1") for x in aaaa[0]["answers"]) and
            not aaaa[0].get("truncated") and max(dns.tcp_answer_bytes or [0]) > 512,
            str(aaaa)[:600])
    many = [e for e in mine if e["type"] == "dns_query" and e["qname"] == "many.tcpdns.test"]
    final = [e for e in agent.events if e["type"] == "agent_stats" and e.get("final")]
    gave_up = final[-1].get("lost", {}).get("dns_tcp_unparsed", 0) if final else None
    t.check("DNS over TCP: 6 queries in one segment: the first 4 reported, the stream given up "
            "and counted (lost.dns_tcp_unparsed 1)",
            sum(1 for q in dns.tcp_queries if q[13:17] == b"many") == 6 and len(many) == 4 and
            gave_up == 1, "server saw %d; reported %d; counter %s" % (
                sum(1 for q in dns.tcp_queries if q[13:17] == b"many"), len(many), gave_up))
    big = [e for e in mine if e["type"] == "dns_answer" and e["qname"] == "big.tcpdns.test"]
    after = [e for e in mine if e["type"] == "dns_answer" and e["qname"] == "after.tcpdns.test"]
    f = line_fields("dns-tcp-big", 0)
    t.check("DNS over TCP: an answer past 2048 bytes (%s, 2500 of them in its first segment) "
            "is kept cut (truncated), and the answer after it on the same connection is parsed"
            % f.get("big_bytes"),
            len(big) == 1 and big[0].get("truncated") is True and len(after) == 1 and
            after[0].get("answers") == ["after.tcpdns.test A 127.0.0.1"] and
            not after[0].get("truncated"), "big %s; after %s" % (
                [(e.get("truncated"), len(e.get("answers", []))) for e in big], after))
    f = line_fields("tcp", 3)
    ev = by_sport(int(f.get("sport", -1)))
    t.check("connect after a DNS-over-TCP answer: dst_name from it (name_source dns)",
            len(ev) == 1 and ev[0].get("dst_name") == "api.tcpdns.test" and
            ev[0].get("name_source") == "dns", "sport %s: %s" % (f.get("sport"), show(ev)))

    if tcp6:
        f = line_fields("tcp", 4)
        sport = int(f.get("sport", -1))
        ev = by_sport(sport, family="inet6")
        t.check("IPv6 connect to ::1",
                len(ev) == 1 and ev[0]["daddr"] == "::1" and ev[0]["saddr"] == "::1" and
                ev[0]["dport"] == tcp6.addr[1] and ev[0]["result"] == 0 and
                sport in tcp6.peers, "sport %s, peers %s: %s" % (sport, tcp6.peers, show(ev)))

    f = line_fields("tls-hello", 1)
    ev = by_sport(int(f.get("sport", -1)))
    t.check("SNI naming the address the session resolved: both names kept, no mismatch",
            len(ev) == 1 and ev[0].get("dst_name") == "API.Example.test" and
            ev[0].get("name_source") == "tls_sni" and
            ev[0].get("dns_name") == "api.example.test" and not ev[0].get("name_mismatch"),
            "%s %s" % (show(ev), ev))
    f = line_fields("tls-hello", 2)
    ev = by_sport(int(f.get("sport", -1)))
    t.check("SNI naming a host the session never resolved to the address: name_mismatch",
            len(ev) == 1 and ev[0].get("dst_name") == "api.fronted.test" and
            ev[0].get("name_source") == "tls_sni" and
            ev[0].get("dns_name") == "api.example.test" and ev[0].get("name_mismatch") is True,
            "%s %s" % (show(ev), ev))
    ev = by_sport(int(line_fields("tcp-send", 0).get("sport", -1)))
    t.check("before any DNS answer: no dns_name, no mismatch",
            len(ev) == 1 and "dns_name" not in ev[0] and not ev[0].get("name_mismatch"),
            str(ev))

    expected = 20 + (1 if tcp6 else 0)  # the dns action connects its UDP socket too
    t.check("exactly the expected net_connect events, no duplicates",
            len(conns) == expected, "%d events, expected %d: %s" % (len(conns), expected,
                                                                     show(conns)))

    t.check("idle connection reported within ~1 s while still open (held-connect sweep)",
            seen_open and open_still, "sport %s: seen %s, fixture still running %s" % (
                idle_sport, seen_open, open_still))
    ev = [e for e in net(agent.events) if e.get("sport") == last_sport]
    t.check("connection held when the agent stops is reported at shutdown",
            last_sport > 0 and len(ev) == 1 and ev[0]["result"] == 0,
            "sport %s: %s" % (last_sport, show(ev)))

    t.check("neutral name: the same actions produce no network events",
            ctl.rc == 0 and not net(agent.events, ctl.pid) and
            not lib.session_events(agent.events, ctl.pid),
            "rc %s, events %s" % (ctl.rc, show(net(agent.events, ctl.pid))))
    t.finish()


if __name__ == "__main__":
    main()
