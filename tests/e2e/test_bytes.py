#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""net_close and destination classes end to end. The test runs its own loopback TCP server,
which reads N bytes and answers M; the agentfix fixture, run as `codex`, connects, sends,
receives and closes. The net_close of that connection must carry exactly the bytes the server
saw, the ports the server saw, and a duration. A connection held open longer than the report
interval must be reported (final false) while open. A connect to an address the session resolved
(through the test's fake DNS) as api.anthropic.com must carry dst_class model_vendor and vendor
anthropic, and so must its net_close. A neutral name gets no net_close."""
import os
import random
import socket
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib  # noqa: E402


class Server:
    """Per connection: read `want` bytes, send `reply` bytes, read to EOF; records what it saw."""

    def __init__(self, addr, want, reply, family=socket.AF_INET, close_first=False):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(addr)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.addr = self.sock.getsockname()
        self.want, self.reply, self.close_first = want, reply, close_first
        self.seen = {}  # peer port -> (bytes read, bytes written)
        self.stop = False
        self.threads = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _serve(self, c, port):
        got = sent = 0
        c.settimeout(20)
        try:
            while got < self.want:
                b = c.recv(65536)
                if not b:
                    break
                got += len(b)
            if got >= self.want:
                sent = c.send(b"y" * self.reply) if self.reply else 0
                while sent < self.reply:
                    sent += c.send(b"y" * (self.reply - sent))
            while not self.close_first:
                b = c.recv(65536)
                if not b:
                    break
                got += len(b)
        except OSError:
            pass
        c.close()
        self.seen[port] = (got, sent)

    def _run(self):
        while not self.stop:
            try:
                c, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            th = threading.Thread(target=self._serve, args=(c, peer[1]), daemon=True)
            th.start()
            self.threads.append(th)

    def close(self):
        self.stop = True
        self.thread.join(2)
        for th in self.threads:
            th.join(5)
        self.sock.close()


class FakeDns:
    """Answers every A query with one address, on its own 127.53.x.y:53."""

    def __init__(self, answer):
        self.answer = socket.inet_aton(answer)
        for _ in range(20):
            self.addr = "127.53.%d.%d" % (random.randint(1, 254), random.randint(1, 254))
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                self.sock.bind((self.addr, 53))
                break
            except OSError:
                self.sock.close()
        else:
            raise RuntimeError("no free 127.53.x.y:53 address for the fake DNS server")
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                q, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            a = (q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + q[12:] +
                 b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + self.answer)
            self.sock.sendto(a, peer)

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def sports(out):
    return [int(dict(t.split("=", 1) for t in line.split()[1:])["sport"])
            for line in out.splitlines() if line.startswith("tcp-xfer pid=")]


def of_type(events, typ, pid):
    return [e for e in events if e["type"] == typ and e["proc"]["pid"] == pid]


def main():
    t = lib.Test("bytes")
    codex = t.fixture("codex")
    worker = t.fixture("worker")
    cfg = t.path("agent.yaml")
    with open(cfg, "w") as f:
        f.write("net_report_interval_s: 1\n")

    n1, m1 = 100000, 37
    n2, m2 = 5, 250000
    srv1 = Server(("127.0.0.1", 0), n1, m1)
    srv2 = Server(("127.0.0.1", 0), n2, m2)
    vip = "127.%d.%d.%d" % (random.randint(60, 250), random.randint(1, 254),
                            random.randint(1, 254))
    srv3 = Server((vip, 0), 10, 10)
    dns = FakeDns(vip)
    try:
        srv6 = Server(("::1", 0), 3000, 4000, socket.AF_INET6)
    except OSError as e:
        srv6 = None
        t.skip("ipv6 net_close", "cannot listen on ::1: %s" % e)
    srv4 = Server(("127.0.0.1", 0), 50, 60, close_first=True)
    v6 = ["tcp-xfer", "::1", str(srv6.addr[1]), "3000", "4000", "0"] if srv6 else []
    agent = lib.Agent(t.build, config=cfg)
    try:
        agent.start()
        r = lib.run([codex, "tcp-xfer", "127.0.0.1", str(srv1.addr[1]), str(n1), str(m1), "0",
                     "tcp-xfer", "127.0.0.1", str(srv2.addr[1]), str(n2), str(m2), "2600",
                     "dns", dns.addr, "api.anthropic.com",
                     "tcp-xfer", vip, str(srv3.addr[1]), "10", "10", "0",
                     "tcp-xfer", "127.0.0.1", str(srv4.addr[1]), "50", "60", "200"] + v6)
        ctl = lib.run([worker, "tcp-xfer", "127.0.0.1", str(srv1.addr[1]), str(n1), str(m1),
                       "0"])
        lib.wait_for(lambda: len(srv1.seen) >= 2 and len(srv2.seen) >= 1 and srv3.seen and srv4.seen and
                     (srv6 is None or srv6.seen), timeout=10)
        # the client's side reaches TCP_CLOSE when our FIN arrives: give the agent a moment
        lib.wait_for(lambda: False, timeout=0.5)
    finally:
        agent.stop()
        for s in (srv1, srv2, srv3, srv4, srv6, dns):
            if s:
                s.close()

    if not t.check("fixture ran", r.rc == 0 and ctl.rc == 0,
                   "rc %s/%s: %s %s" % (r.rc, ctl.rc, r.err, ctl.err)):
        t.finish()
    ports = sports(r.out)
    p1, p2, p3 = ports[:3]
    closes = of_type(agent.events, "net_close", r.pid)
    final = {e["sport"]: e for e in closes if e.get("final")}

    e = final.get(p1)
    got, sent = srv1.seen.get(p1, (None, None))
    t.check("net_close: bytes_sent and bytes_received are what the server read and wrote",
            e is not None and got == n1 and sent == m1 and
            int(e.get("bytes_sent", 0)) == got and int(e.get("bytes_received", 0)) == sent,
            "server saw %s/%s for sport %s; event %s" % (got, sent, p1, e))
    t.check("net_close: addresses, ports, proto, duration",
            e is not None and e.get("daddr") == "127.0.0.1" and
            e.get("dport") == srv1.addr[1] and e.get("saddr") == "127.0.0.1" and
            e.get("proto") == "tcp" and e.get("family") == "inet" and
            int(e.get("duration_ns", 0)) > 0 and
            int(e.get("bytes_sent_total", 0)) >= int(e.get("bytes_sent", 0)), "event %s" % e)

    e = final.get(p2)
    got, sent = srv2.seen.get(p2, (None, None))
    t.check("net_close: a large download counted exactly",
            e is not None and got == n2 and sent == m2 and
            int(e.get("bytes_sent", 0)) == n2 and int(e.get("bytes_received", 0)) == m2,
            "server saw %s/%s; event %s" % (got, sent, e))
    t.check("net_close: the held connection lasted its hold",
            e is not None and int(e.get("duration_ns", 0)) >= 2_500_000_000, "event %s" % e)
    mid = [x for x in closes if x["sport"] == p2 and not x.get("final")]
    t.check("open connection reported while open (final false, bytes so far)",
            len(mid) >= 1 and all(int(x.get("bytes_received", 0)) == m2 and
                                  int(x.get("bytes_sent", 0)) == n2 for x in mid),
            "periodic reports: %s" % mid)

    conn = [x for x in of_type(agent.events, "net_connect", r.pid)
            if x.get("sport") == p3]
    t.check("connect to a name the session resolved: dst_class model_vendor, vendor anthropic",
            len(conn) == 1 and conn[0].get("dst_name") == "api.anthropic.com" and
            conn[0].get("dst_class") == "model_vendor" and
            conn[0].get("vendor") == "anthropic", "connects to sport %s: %s" % (p3, conn))
    e = final.get(p3)
    t.check("its net_close carries the name and the class",
            e is not None and e.get("dst_name") == "api.anthropic.com" and
            e.get("dst_class") == "model_vendor" and e.get("vendor") == "anthropic" and
            int(e.get("bytes_sent", 0)) == 10 and int(e.get("bytes_received", 0)) == 10,
            "event %s" % e)
    e = final.get(ports[3])
    got, sent = srv4.seen.get(ports[3], (None, None))
    t.check("net_close when the server closes first: exact bytes",
            e is not None and got == 50 and sent == 60 and int(e.get("bytes_sent", 0)) == 50 and
            int(e.get("bytes_received", 0)) == 60, "server %s/%s; event %s" % (got, sent, e))
    if srv6:
        e = final.get(ports[4]) if len(ports) > 4 else None
        got, sent = srv6.seen.get(ports[4], (None, None)) if e else (None, None)
        t.check("net_close over IPv6: addresses and exact bytes",
                e is not None and e.get("family") == "inet6" and e.get("daddr") == "::1" and
                e.get("saddr") == "::1" and e.get("dport") == srv6.addr[1] and
                got == 3000 and sent == 4000 and int(e.get("bytes_sent", 0)) == 3000 and
                int(e.get("bytes_received", 0)) == 4000, "server %s/%s; event %s" % (got, sent, e))
    other = [x for x in of_type(agent.events, "net_connect", r.pid)
             if x.get("sport") in (p1, p2)]
    t.check("connect without a name has no class", len(other) == 2 and
            all("dst_class" not in x for x in other), "%s" % other)
    t.check("neutral process: no net_close", not of_type(agent.events, "net_close", ctl.pid),
            "%s" % of_type(agent.events, "net_close", ctl.pid))
    t.check("agent exited cleanly", agent.rc == 0, "rc %s" % agent.rc)
    t.finish()


if __name__ == "__main__":
    main()
