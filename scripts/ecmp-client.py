#!/usr/bin/env python3
"""The ECMP drills' client (scripts/drill-ecmp.sh), run on the lab's client.

usage: ecmp-client.py run LAB_DIR OUT [--sessions N] [--rate R] [--seconds S] [--ready FILE]
       ecmp-client.py report OUT [--fault EPOCH] [--victim lbN] [--window-ms MS]
                      [--max-failed N] [--survivors-broken-max PCT] [--informational]
       ecmp-client.py spread COUNT [--parallel P] [--seconds S]

run: opens N long-lived keep-alive HTTP/1.1 sessions to the VIP (a GET
every 0.2 s each), finds which load balancer holds each one (its local
port in each lbN's `show sess`, LAB_DIR/lbN/admin.sock), touches FILE
(--ready), then for S seconds opens R new connections a second (one GET
each, 1 s timeouts), and writes what happened to OUT (JSON): every
attempt's start, result and reason; every session's node, and when and
why it broke.
report: the figures of OUT around the fault at EPOCH (what the drill did,
on the same clock): the window of failed new connections after it, and
the long-lived sessions broken, on the victim and on the other nodes;
exit 1 when a target given is missed (never with --informational).
spread: COUNT new connections (one GET each), P at a time, for S seconds
at most (30); prints "ok N failed M", the failures' reasons after it, and
"(stopped after S s, K not tried)" when time ran out.
Every loop is bounded by its count and by time.
"""

import argparse
import importlib.util
import json
import os
import socket
import sys
import threading
import time

# The stats-socket client of scripts/lab-helper.py (`cli`).
sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
_spec = importlib.util.spec_from_file_location(
    "lab_helper", os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab-helper.py"))
lab_helper = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab_helper)

VIP = ("198.51.100.100", 80)
REQUEST = b"GET / HTTP/1.1\r\nHost: www.foobar.com\r\n\r\n"
TIMEOUT = 1.0
SESSION_PACE = 0.2


def read_answer(s, deadline):
    """One HTTP answer (the lab's pages: Content-Length); raises on error."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if time.time() > deadline:
            raise TimeoutError("no answer header")
        d = s.recv(4096)
        if not d:
            raise ConnectionError("closed before an answer")
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        status = head.split(b"\r\n")[0][:40]
        raise ConnectionError(f"answer {status!r}")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        if time.time() > deadline:
            raise TimeoutError("body cut")
        d = s.recv(4096)
        if not d:
            raise ConnectionError("closed in the body")
        body += d
    return body


def why(step, e):
    """What failed, and how: "connect: ConnectionRefusedError 111",
    "answer: TimeoutError timed out", "answer: ConnectionError closed before
    an answer"."""
    how = f"{e.errno}" if getattr(e, "errno", None) else str(e)
    return f"{step}: {type(e).__name__}" + (f" {how}" if how else "")


def once():
    """One new connection, one GET; (ok, reason)."""
    step = "connect"
    try:
        with socket.create_connection(VIP, timeout=TIMEOUT) as s:
            step = "answer"
            s.settimeout(TIMEOUT)
            s.sendall(REQUEST)
            body = read_answer(s, time.time() + TIMEOUT)
            return (b"served by" in body, "" if b"served by" in body else "answer: not a web page")
    except OSError as e:
        return False, why(step, e)


class Session:
    def __init__(self):
        self.port = None
        self.node = None
        self.broken_at = None
        self.reason = None
        self.requests = 0
        self.sock = None

    def open(self):
        try:
            self.sock = socket.create_connection(VIP, timeout=TIMEOUT)
            self.sock.settimeout(TIMEOUT)
            self.port = self.sock.getsockname()[1]
            self.get()
        except OSError as e:
            self.fail(e)

    def get(self):
        self.sock.sendall(REQUEST)
        read_answer(self.sock, time.time() + TIMEOUT)
        self.requests += 1

    def fail(self, e):
        self.broken_at = time.time()
        self.reason = why("open" if self.requests == 0 else "GET", e)

    def keep(self, until):
        while self.broken_at is None and time.time() < until:
            time.sleep(SESSION_PACE)
            try:
                self.get()
            except OSError as e:
                self.fail(e)
        if self.sock:
            self.sock.close()


def map_nodes(lab_dir, sessions):
    """Which load balancer holds each session: its port in `show sess`."""
    by_port = {s.port: s for s in sessions if s.port}
    for n in range(1, 5):
        path = os.path.join(lab_dir, f"lb{n}", "admin.sock")
        if not os.path.exists(path):
            continue
        try:
            text = lab_helper.cli(path, "show sess")
        except OSError:
            continue
        for word in text.split():
            if word.startswith("src=") and ":" in word:
                try:
                    port = int(word.rsplit(":", 1)[1])
                except ValueError:
                    continue
                if port in by_port:
                    by_port[port].node = f"lb{n}"


def run(a):
    sessions = [Session() for _ in range(a.sessions)]
    opened = [threading.Thread(target=s.open) for s in sessions]
    for t in opened:
        t.start()
    for t in opened:
        t.join(5)
    map_nodes(a.lab_dir, sessions)
    ready_at = time.time()
    until = ready_at + a.seconds
    keepers = [threading.Thread(target=s.keep, args=(until,)) for s in sessions if s.sock]
    for t in keepers:
        t.start()
    if a.ready:
        with open(a.ready, "w") as f:
            f.write(f"{ready_at}\n")
    attempts = []
    lock = threading.Lock()

    def attempt(start):
        ok, reason = once()
        with lock:
            attempts.append((start, ok, reason, time.time()))

    workers = []
    n = int(a.seconds * a.rate)
    for i in range(n):
        due = ready_at + i / a.rate
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        t = threading.Thread(target=attempt, args=(time.time(),))
        t.start()
        workers.append(t)
    for t in workers + keepers:
        t.join(3 * TIMEOUT + SESSION_PACE)
    out = {
        "ready_at": ready_at,
        "attempts": sorted(attempts),
        "sessions": [
            {"port": s.port, "node": s.node, "broken_at": s.broken_at, "reason": s.reason,
             "requests": s.requests}
            for s in sessions
        ],
    }
    with open(a.out, "w") as f:
        json.dump(out, f)
    return 0


def counted(reasons):
    """'reason xN, ...', the most frequent first."""
    c = {}
    for r in reasons:
        c[r] = c.get(r, 0) + 1
    return ", ".join(f"{r} x{n}" for r, n in sorted(c.items(), key=lambda x: (-x[1], x[0])))


def report(a):
    with open(a.out) as f:
        r = json.load(f)
    fault = a.fault if a.fault is not None else r["ready_at"]
    before = [x for x in r["attempts"] if x[0] < fault and not x[1]]
    after = [x for x in r["attempts"] if x[0] >= fault]
    failed = [x for x in after if not x[1]]
    ok = True

    def line(k, v):
        print(f"  {k:<40} {v}")

    line("new connections", f"{len(r['attempts'])} ({len(before)} failed before the fault)")
    if failed:
        window = (failed[-1][0] - failed[0][0]) * 1000
        reasons = counted(x[2] for x in failed)
        line("failed new connections after the fault",
             f"{len(failed)} from +{(failed[0][0] - fault) * 1000:.0f} ms to "
             f"+{(failed[-1][0] - fault) * 1000:.0f} ms: window {window:.0f} ms ({reasons})")
    else:
        window = 0.0
        line("failed new connections after the fault", "0")
    if a.window_ms is not None:
        miss = window > a.window_ms or bool(before)
        line("  window target", f"<= {a.window_ms} ms: {'MISSED' if miss else 'met'}")
        ok &= not miss
    if a.max_failed is not None:
        miss = len(failed) > a.max_failed or bool(before)
        line("  failed target", f"<= {a.max_failed}: {'MISSED' if miss else 'met'}")
        ok &= not miss
    sessions = r["sessions"]
    unmapped = [s for s in sessions if s["node"] is None]
    early = [s for s in sessions if s["broken_at"] is not None and s["broken_at"] < fault]
    nodes = sorted({s["node"] for s in sessions if s["node"]})
    per = {n: [s for s in sessions if s["node"] == n] for n in nodes}
    line("long-lived sessions", f"{len(sessions)}: " + ", ".join(
        f"{n} {len(per[n])}" for n in nodes) + (f", {len(unmapped)} not found" if unmapped else ""))
    if a.victim:
        v = per.get(a.victim, [])
        cut = [s for s in v if s["broken_at"] is not None]
        line(f"  on {a.victim} (the node that left)", f"{len(cut)} of {len(v)} broken")
    survivors = [s for n in nodes if n != a.victim for s in per[n]]
    broken = [s for s in survivors if s["broken_at"] is not None]
    share = 100.0 * len(broken) / len(survivors) if survivors else 0.0
    reasons = counted(s["reason"] for s in broken)
    label = "on the other nodes" if a.victim else "on every node"
    line(f"  {label}", f"{len(broken)} of {len(survivors)} broken ({share:.1f} %)"
         + (f": {reasons}" if reasons else ""))
    if a.informational:
        line("  target", "none (informational)" + (
            "; 0 this run: no flow of the others happened to hash into the range that moved"
            if survivors and not broken else ""))
    elif a.survivors_broken_max is not None:
        miss = share > a.survivors_broken_max or bool(early) or bool(unmapped)
        line("  target", f"<= {a.survivors_broken_max:g} % broken: {'MISSED' if miss else 'met'}"
             + (f" ({len(early)} broke before the fault)" if early else "")
             + (f" ({len(unmapped)} sessions not found on any node)" if unmapped else ""))
        ok &= not miss
    return 0 if ok or a.informational else 1


def spread(a):
    count = {"ok": 0, "failed": 0}
    reasons = []
    lock = threading.Lock()
    left = [a.count]
    deadline = time.time() + a.seconds

    def worker():
        while time.time() < deadline:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            good, reason = once()
            with lock:
                count["ok" if good else "failed"] += 1
                if not good:
                    reasons.append(reason)

    ts = [threading.Thread(target=worker) for _ in range(a.parallel)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(f"ok {count['ok']} failed {count['failed']}"
          + (f" ({counted(reasons)})" if reasons else "")
          + (f" (stopped after {a.seconds:g} s, {left[0]} not tried)" if left[0] else ""))
    return 0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("lab_dir")
    r.add_argument("out")
    r.add_argument("--sessions", type=int, default=60)
    r.add_argument("--rate", type=float, default=100)
    r.add_argument("--seconds", type=float, default=6)
    r.add_argument("--ready")
    q = sub.add_parser("report")
    q.add_argument("out")
    q.add_argument("--fault", type=float)
    q.add_argument("--victim")
    q.add_argument("--window-ms", type=float)
    q.add_argument("--max-failed", type=int)
    q.add_argument("--survivors-broken-max", type=float)
    q.add_argument("--informational", action="store_true")
    s = sub.add_parser("spread")
    s.add_argument("count", type=int)
    s.add_argument("--parallel", type=int, default=20)
    s.add_argument("--seconds", type=float, default=30)
    a = p.parse_args(argv[1:])
    return {"run": run, "report": report, "spread": spread}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
