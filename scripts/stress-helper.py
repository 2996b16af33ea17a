#!/usr/bin/env python3
"""Sockets for scripts/stress (no third-party modules). Every loop here is
bounded in count and in time; only 127.0.0.0/8 is used.

  echo [--count FILE] PORT...
      An echo server on 127.0.0.1:PORT... (one process, epoll): sends back
      what it reads and keeps every connection until the peer closes it
      (so it is the idle holder too). With --count, FILE holds the number of
      connections it has open and how many it accepted in all, rewritten
      when they change (at most 5 times a second).

  http PORT SECONDS CONNS [--close] [--kill-at S --kill PID,...]
      A keep-alive HTTP/1.1 load (GET /, CONNS connections, each sending its
      next request as soon as the answer is complete) for SECONDS; with
      --close, `Connection: close` and a new connection per request. A
      request fails when its connection cannot be made, is closed or reset
      before the whole answer, stays 5 s without it, or the status is not
      200; the client then opens a new connection and goes on (it never
      retries the request). With --kill-at, SIGKILL to the PIDs S seconds in.
      Prints JSON: requests, errors (and by kind), errors_late (failed
      more than 1 s after the kill: requests a proxy could have sent
      elsewhere), errors by second.

  sessions PORT N EVERY_MS
      N sessions that each send a line every EVERY_MS and wait for it back;
      prints "ready" once all are connected and answered, runs until its
      stdin closes (at most 10 minutes), then prints JSON: failures, worst
      round trip and longest gap between two answers of one session.

  nofile PORT PROXY_PID HELD BURST SECONDS COUNTFILE
      HELD sessions (`sessions`, every 100 ms) then BURST connections at
      once, each sending a line and keeping the connection once answered,
      for SECONDS; the proxy's CPU seconds over that window; then the burst
      closes and a fresh connection is tried every 50 ms until one is
      answered (at most 30 s): the recovery time; and how many connections
      the backend (`echo --count COUNTFILE`) got after the burst closed:
      those the proxy accepted from its queue after their client had gone.
      JSON.

  burst PORT N PROCS DEADLINE PROXY_PID PROBE_PORT
      N connections opened as fast as possible by PROCS processes, each
      sending a line, reading it back and closing, within DEADLINE seconds;
      a probe session meanwhile (`sessions PROBE_PORT 1 50`: another
      frontend of the proxy, to another echo server). JSON: served,
      refused, reset, timed out, other errors, the time until the last one
      was served, the probe's worst round trip, the proxy's CPU seconds.

  idle PORT N COUNTFILE PROXY_PID
      N idle sessions through the proxy to `echo --count COUNTFILE`,
      opened in batches of 1000; the proxy's VmRSS and open fds before,
      once the backend holds all N (no byte sent yet), and after 16 bytes
      went each way through every session. JSON.

  tag KEY=VALUE...
      The JSON object on stdin with these fields added.

  table RESULTS
      The markdown tables of scripts/stress from its JSON lines.
"""

import errno
import json
import os
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time

HOST = "127.0.0.1"
# Linux's IP_BIND_ADDRESS_NO_PORT (not in Python's socket module): a
# socket bound to a source address gets its port at connect(), unique per
# 4-tuple rather than per address, so 127.0.0.x sources are not limited to
# one ephemeral range for all destinations together.
IP_BIND_ADDRESS_NO_PORT = 24
# Client source addresses, spread so that no ephemeral port range runs out.
SOURCES = ["127.0.0.%d" % i for i in range(2, 34)]
REQUEST_TIMEOUT_S = 5.0
MAX_RUN_S = 600.0


def die(msg):
    sys.exit("stress-helper: " + msg)


def raise_nofile():
    """The soft open-files limit up to the hard one: the clients need one
    descriptor a connection."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def cpu_s(pid):
    """User + system CPU seconds of every thread of PID."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    die("no VmRSS for pid %d" % pid)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def client_socket(i):
    """A non-blocking socket bound to the i-th client source address."""
    s = socket.socket()
    s.setblocking(False)
    s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    s.bind((SOURCES[i % len(SOURCES)], 0))
    return s


def start_connect(s, port):
    """connect() without blocking; the errno if it failed at once."""
    err = s.connect_ex((HOST, port))
    return 0 if err in (0, errno.EINPROGRESS) else err


# --- echo -----------------------------------------------------------------

def echo(argv):
    count_file = None
    if argv[:1] == ["--count"]:
        count_file, argv = argv[1], argv[2:]
    raise_nofile()
    sel = selectors.DefaultSelector()
    for port in map(int, argv):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((HOST, port))
        ls.listen(4096)
        ls.setblocking(False)
        sel.register(ls, selectors.EVENT_READ, None)
    pending = {}  # socket -> bytes not yet written back
    open_now, accepted, written, last_write = 0, 0, -1, 0.0

    def drop(c):
        nonlocal open_now
        sel.unregister(c)
        pending.pop(c, None)
        c.close()
        open_now -= 1

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        for key, events in sel.select(0.2):
            if key.data is None:
                # Up to 256 at a time, so the echoes are not starved.
                for _ in range(256):
                    try:
                        c, _ = key.fileobj.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        # EMFILE: leave the rest in the backlog a while.
                        break
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, "c")
                    open_now += 1
                    accepted += 1
                continue
            c = key.fileobj
            if events & selectors.EVENT_WRITE:
                try:
                    n = c.send(pending[c])
                except BlockingIOError:
                    continue
                except OSError:
                    drop(c)
                    continue
                pending[c] = pending[c][n:]
                if not pending[c]:
                    del pending[c]
                    sel.modify(c, selectors.EVENT_READ, "c")
                continue
            try:
                data = c.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                drop(c)
                continue
            try:
                n = c.send(data)
            except BlockingIOError:
                n = 0
            except OSError:
                drop(c)
                continue
            if n < len(data):
                pending[c] = data[n:]
                sel.modify(c, selectors.EVENT_READ | selectors.EVENT_WRITE, "c")
        now = time.monotonic()
        if count_file and (open_now, accepted) != written and now - last_write >= 0.2:
            with open(count_file + ".tmp", "w") as f:
                f.write("%d %d\n" % (open_now, accepted))
            os.replace(count_file + ".tmp", count_file)
            written, last_write = (open_now, accepted), now


# --- http -----------------------------------------------------------------

def http(argv):
    port, secs, conns = int(argv[0]), float(argv[1]), int(argv[2])
    close = "--close" in argv
    kill_at, kill_pids = None, []
    if "--kill-at" in argv:
        kill_at = float(argv[argv.index("--kill-at") + 1])
        kill_pids = [int(p) for p in argv[argv.index("--kill") + 1].split(",")]
    raise_nofile()
    req = b"GET / HTTP/1.1\r\nHost: stress\r\n" + (b"Connection: close\r\n" if close else b"") + b"\r\n"
    sel = selectors.DefaultSelector()
    kinds = {"connect": 0, "closed": 0, "timeout": 0, "status": 0}
    by_second = [0] * (int(secs) + 1)
    ok = 0
    late = 0
    killed_at = None
    nth = 0

    class Conn:
        pass

    def open_conn():
        nonlocal nth
        c = Conn()
        c.sock = client_socket(nth)
        nth += 1
        c.buf = b""
        c.sent_at = time.monotonic()
        c.connected = False
        err = start_connect(c.sock, port)
        if err:
            c.sock.close()
            return fail(None, "connect")
        sel.register(c.sock, selectors.EVENT_WRITE, c)
        return c

    def fail(c, kind):
        nonlocal late
        now = time.monotonic()
        kinds[kind] += 1
        by_second[min(int(now - t0), len(by_second) - 1)] += 1
        if killed_at is not None and now - killed_at > 1.0:
            late += 1
        if c is not None:
            sel.unregister(c.sock)
            c.sock.close()
        return None

    def send_request(c):
        c.buf = b""
        c.sent_at = time.monotonic()
        try:
            c.sock.send(req)  # a few dozen bytes: never a short write here
        except OSError:
            return fail(c, "closed")
        return c

    def answer_complete(buf):
        """None while incomplete, else the status line's code."""
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = buf[:head_end].split(b"\r\n")
        length = 0
        for h in head[1:]:
            name, _, value = h.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(buf) < head_end + 4 + length:
            return None
        return head[0].split(b" ")[1] if b" " in head[0] else b"?"

    t0 = time.monotonic()
    end = t0 + min(secs, MAX_RUN_S)
    live = [c for c in (open_conn() for _ in range(conns)) if c]
    while time.monotonic() < end:
        now = time.monotonic()
        if kill_at is not None and killed_at is None and now - t0 >= kill_at:
            for p in kill_pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed_at = time.monotonic()
        for key, events in sel.select(0.05):
            c = key.data
            if not c.connected:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    live.remove(c)
                    fail(c, "connect")
                    continue
                c.connected = True
                sel.modify(c.sock, selectors.EVENT_READ, c)
                if not send_request(c):
                    live.remove(c)
                continue
            try:
                data = c.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                live.remove(c)
                fail(c, "closed")
                continue
            c.buf += data
            status = answer_complete(c.buf)
            if status is None:
                continue
            if status != b"200":
                live.remove(c)
                fail(c, "status")
                continue
            ok += 1
            if close:
                sel.unregister(c.sock)
                c.sock.close()
                live.remove(c)
            elif not send_request(c):
                live.remove(c)
        now = time.monotonic()
        for c in [c for c in live if now - c.sent_at > REQUEST_TIMEOUT_S]:
            live.remove(c)
            fail(c, "timeout")
        while len(live) < conns and time.monotonic() < end:
            c = open_conn()
            if c:
                live.append(c)
            else:
                break
    # Requests in flight at the end are neither served nor failed.
    for c in live:
        sel.unregister(c.sock)
        c.sock.close()
    errors = sum(kinds.values())
    print(json.dumps({"requests": ok + errors, "served": ok, "errors": errors,
                      "errors_late": late, "kinds": kinds, "errors_by_second": by_second,
                      "killed_at_s": round(killed_at - t0, 2) if killed_at else None}))


# --- sessions ---------------------------------------------------------------

def sessions(argv):
    port, n, every = int(argv[0]), int(argv[1]), int(argv[2]) / 1000.0
    raise_nofile()
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((SOURCES[i % len(SOURCES)], 0))
        s.settimeout(5)
        s.connect((HOST, port))
        s.sendall(b"hello\n")
        if s.recv(64) != b"hello\n":
            die("session %d got no echo" % i)
        s.setblocking(False)
        socks.append(s)
    sel = selectors.DefaultSelector()
    state = {}
    t0 = time.monotonic()
    for s in socks:
        sel.register(s, selectors.EVENT_READ, s)
        # last answer, time the question was sent (None: answered)
        state[s] = [t0, None]
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    print("ready", flush=True)
    failures, worst_rtt, worst_gap, rounds = 0, 0.0, 0.0, 0
    next_round = t0
    end = t0 + MAX_RUN_S
    dead = set()
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_round:
            rounds += 1
            for s in socks:
                if s in dead:
                    continue
                st = state[s]
                if st[1] is None:
                    try:
                        s.send(b"ping\n")
                        st[1] = now
                    except OSError:
                        failures += 1
                        dead.add(s)
                        sel.unregister(s)
            next_round += every
        stop = False
        for key, _ in sel.select(max(0.0, next_round - time.monotonic())):
            if key.data == "stdin":
                stop = True
                continue
            s = key.data
            try:
                data = s.recv(64)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            now = time.monotonic()
            if not data:
                failures += 1
                dead.add(s)
                sel.unregister(s)
                continue
            st = state[s]
            if st[1] is not None:
                worst_rtt = max(worst_rtt, now - st[1])
                worst_gap = max(worst_gap, now - st[0])
                st[0], st[1] = now, None
        if stop:
            break
    now = time.monotonic()
    for s in socks:
        if s not in dead and state[s][1] is not None:
            # Still waiting for the last answer: that wait counts too.
            worst_rtt = max(worst_rtt, now - state[s][1])
            worst_gap = max(worst_gap, now - state[s][0])
    print(json.dumps({"sessions": n, "rounds": rounds, "failures": failures,
                      "worst_rtt_ms": round(worst_rtt * 1000, 1),
                      "worst_gap_ms": round(worst_gap * 1000, 1)}), flush=True)


class SessionsChild:
    """`sessions` in a process of its own, so the bursts of this one do not
    delay its answers (the GIL)."""

    def __init__(self, port, n, every_ms):
        self.p = subprocess.Popen([sys.executable, __file__, "sessions", str(port), str(n),
                                   str(every_ms)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        if self.p.stdout.readline().strip() != "ready":
            self.p.kill()
            die("the held sessions did not start")

    def finish(self):
        self.p.stdin.close()
        out = self.p.stdout.read()
        self.p.wait(30)
        return json.loads(out)


# --- connection bursts ---------------------------------------------------------

def burst_conns(port, n, deadline, hold, first_source=0):
    """Opens n connections at once, sends a line on each, waits for it
    back; closes each once answered unless `hold`. Returns (counts, seconds
    until the last answer, sockets held)."""
    raise_nofile()
    counts = {"served": 0, "refused": 0, "reset": 0, "timed_out": 0, "other": 0}
    sel = selectors.DefaultSelector()
    waiting = {}  # socket -> "connect" | "answer"
    held = []
    t0 = time.monotonic()
    last_served = None
    for i in range(n):
        try:
            s = client_socket(first_source + i)
        except OSError:
            counts["other"] += 1
            continue
        err = start_connect(s, port)
        if err:
            counts["refused" if err == errno.ECONNREFUSED else "other"] += 1
            s.close()
            continue
        sel.register(s, selectors.EVENT_WRITE)
        waiting[s] = "connect"
    end = t0 + deadline
    while waiting and time.monotonic() < end:
        for key, _ in sel.select(0.1):
            s = key.fileobj
            if waiting[s] == "connect":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if not err:
                    try:
                        s.send(b"hello\n")
                    except OSError as e:
                        err = e.errno
                if err:
                    counts["refused" if err == errno.ECONNREFUSED else
                           "reset" if err in (errno.ECONNRESET, errno.EPIPE) else "other"] += 1
                    sel.unregister(s)
                    s.close()
                    del waiting[s]
                    continue
                waiting[s] = "answer"
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(64)
                kind = "served" if data == b"hello\n" else "reset"
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionResetError:
                kind = "reset"
            except OSError:
                kind = "other"
            counts[kind] += 1
            sel.unregister(s)
            del waiting[s]
            if kind == "served":
                last_served = time.monotonic()
                if hold:
                    held.append(s)
                    continue
            s.close()
    counts["timed_out"] = len(waiting)
    for s in waiting:
        s.close()
    return counts, (last_served - t0 if last_served else None), held


def fresh_session_ok(port):
    """One new session answered within 1 s. The connect gets 0.2 s: a SYN
    dropped on a full accept queue is sent again by the kernel only after
    1 s, which would measure the kernel's timer, not the proxy."""
    try:
        s = socket.create_connection((HOST, port), timeout=0.2)
    except OSError:
        return False
    try:
        s.settimeout(1)
        s.sendall(b"fresh\n")
        return s.recv(64) == b"fresh\n"
    except OSError:
        return False
    finally:
        s.close()


def nofile(argv):
    port, pid, n_held, n_burst, secs, count_file = (int(argv[0]), int(argv[1]), int(argv[2]),
                                                    int(argv[3]), float(argv[4]), argv[5])
    held = SessionsChild(port, n_held, 100)
    time.sleep(1)  # a few rounds before the burst
    c0 = cpu_s(pid)
    counts, _, socks = burst_conns(port, n_burst, secs, hold=True)
    # The burst's window is the same for every proxy: what was not answered
    # by then has timed out.
    cpu = cpu_s(pid) - c0
    accepted_before = read_count(count_file, 1)
    for s in socks:
        s.close()
    t = time.monotonic()
    recovered = None
    while time.monotonic() - t < 30:
        if fresh_session_ok(port):
            recovered = time.monotonic() - t
            break
        time.sleep(0.05)
    time.sleep(1)  # the held sessions a second longer, after the recovery
    h = held.finish()
    time.sleep(0.5)  # the echo server's count is at most 0.2 s old
    print(json.dumps({"burst": n_burst, **{"burst_" + k: v for k, v in counts.items()},
                      "backend_after_close": read_count(count_file, 1) - accepted_before,
                      "held": n_held, "held_failures": h["failures"],
                      "held_worst_gap_ms": h["worst_gap_ms"], "cpu_s": round(cpu, 2),
                      "recovery_s": round(recovered, 2) if recovered is not None else None}))


def burst_part(argv):
    port, n, deadline, first = int(argv[0]), int(argv[1]), float(argv[2]), int(argv[3])
    t0 = time.monotonic()
    counts, last, _ = burst_conns(port, n, deadline, hold=False, first_source=first)
    counts["last_served_s"] = (t0 + last) if last is not None else None
    print(json.dumps(counts), flush=True)


def burst(argv):
    port, n, procs, deadline, pid, probe_port = (int(argv[0]), int(argv[1]), int(argv[2]),
                                                 float(argv[3]), int(argv[4]), int(argv[5]))
    probe = SessionsChild(probe_port, 1, 50)
    time.sleep(0.5)
    c0 = cpu_s(pid)
    t0 = time.monotonic()
    parts = [subprocess.Popen([sys.executable, __file__, "burst-part", str(port),
                               str(n // procs + (1 if i < n % procs else 0)), str(deadline),
                               str(i * 7)], stdout=subprocess.PIPE, text=True)
             for i in range(procs)]
    outs = []
    for p in parts:
        out, _ = p.communicate(timeout=deadline + 60)
        outs.append(json.loads(out))
    cpu = cpu_s(pid) - c0
    time.sleep(0.5)
    pr = probe.finish()
    total = {k: sum(o[k] for o in outs) for k in ("served", "refused", "reset", "timed_out", "other")}
    lasts = [o["last_served_s"] for o in outs if o["last_served_s"] is not None]
    print(json.dumps({"n": n, "procs": procs, **total,
                      "all_served_s": round(max(lasts) - t0, 2) if lasts and total["served"] == n else None,
                      "last_served_s": round(max(lasts) - t0, 2) if lasts else None,
                      "probe_worst_ms": pr["worst_rtt_ms"], "probe_failures": pr["failures"],
                      "cpu_s": round(cpu, 2)}))


# --- idle -------------------------------------------------------------------

def read_count(path, field=0):
    """The echo server's open connections (field 0) or its accepts so far (1)."""
    try:
        with open(path) as f:
            return int(f.read().split()[field])
    except (OSError, ValueError):
        return 0


def idle(argv):
    port, n, count_file, pid = int(argv[0]), int(argv[1]), argv[2], int(argv[3])
    hard = raise_nofile()
    if n + 100 > hard:
        die("%d sessions need %d descriptors here; the limit is %d" % (n, n + 100, hard))
    base_backend = read_count(count_file)
    before, fds_before = vmrss_kib(pid), fd_count(pid)
    socks, failed = [], 0
    t0 = time.monotonic()
    batch = 1000
    sel = selectors.DefaultSelector()
    while len(socks) + failed < n and time.monotonic() - t0 < 120:
        todo = []
        for i in range(min(batch, n - len(socks) - failed)):
            s = client_socket(len(socks) + failed + i)
            if start_connect(s, port):
                failed += 1
                s.close()
                continue
            sel.register(s, selectors.EVENT_WRITE)
            todo.append(s)
        end = time.monotonic() + 30
        pending = set(todo)
        while pending and time.monotonic() < end:
            for key, _ in sel.select(0.1):
                s = key.fileobj
                sel.unregister(s)
                pending.discard(s)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    failed += 1
                    s.close()
                else:
                    socks.append(s)
        for s in pending:
            sel.unregister(s)
            s.close()
            failed += 1
    opened_s = time.monotonic() - t0
    # The proxy holds a whole session once the backend has accepted it.
    end = time.monotonic() + 60
    while read_count(count_file) - base_backend < len(socks) and time.monotonic() < end:
        time.sleep(0.2)
    at_backend = read_count(count_file) - base_backend
    time.sleep(2)
    quiet, fds_quiet = vmrss_kib(pid), fd_count(pid)
    # 16 bytes each way through every session, then idle again.
    got = 0
    for s in socks:
        try:
            s.send(b"0123456789abcde\n")
        except OSError:
            pass
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    end = time.monotonic() + 60
    while got < len(socks) and time.monotonic() < end:
        for key, _ in sel.select(0.2):
            s = key.fileobj
            try:
                if s.recv(64):
                    got += 1
            except OSError:
                pass
            sel.unregister(s)
    time.sleep(2)
    after, fds_after = vmrss_kib(pid), fd_count(pid)
    n_ok = max(len(socks), 1)
    print(json.dumps({"asked": n, "held": len(socks), "failed": failed,
                      "at_backend": at_backend, "echoed": got,
                      "open_s": round(opened_s, 1), "rss_before_kib": before,
                      "rss_quiet_kib": quiet, "rss_after_kib": after,
                      "bytes_quiet": round((quiet - before) * 1024 / n_ok),
                      "bytes_after": round((after - before) * 1024 / n_ok),
                      "fds_before": fds_before, "fds_quiet": fds_quiet,
                      "fds_after": fds_after}))
    for s in socks:
        s.close()


# --- results ----------------------------------------------------------------

def tag(argv):
    obj = json.loads(sys.stdin.read())
    for kv in argv:
        k, _, v = kv.partition("=")
        try:
            obj[k] = json.loads(v)
        except ValueError:
            obj[k] = v
    print(json.dumps(obj))


def fmt(v, unit=""):
    if v is None:
        return "—"
    if isinstance(v, float):
        v = "%.2f" % v if v < 10 else "%.1f" % v if v < 100 else "%.0f" % v
    elif isinstance(v, int) and abs(v) >= 1000:
        v = "{:,}".format(v)
    return "%s%s" % (v, unit)


def table(argv):
    rows = [json.loads(line) for line in open(argv[0]) if line.strip()]
    pxs = ("splicer", "haproxy")
    out = []

    def pick(scenario, **kw):
        return [r for r in rows if r.get("scenario") == scenario
                and all(r.get(k) == v for k, v in kw.items())]

    kill = pick("kill")
    if kill:
        out += ["**A server killed under load** (3 Nginx, `balance roundrobin`, `retries 3`, "
                "`option redispatch`, `check inter 1s`; one Nginx killed with SIGKILL 3 s "
                "into 10 s of load; sums over the runs, each run's errors in brackets)", "",
                "| load | proxy | runs | requests | errors | per 10,000 | errors > 1 s after the kill |",
                "|---|---|---|---|---|---|---|"]
        for mode, label in (("keepalive", "keep-alive, %s connections"),
                            ("close", "`Connection: close`, %s at a time")):
            for px in pxs:
                rs = pick("kill", mode=mode, proxy=px)
                if not rs:
                    continue
                req = sum(r["requests"] for r in rs)
                err = sum(r["errors"] for r in rs)
                out.append("| %s | %s | %d | %s | %d (%s) | %.1f | %d |" % (
                    label % rs[0]["conns"], px, len(rs), fmt(req), err,
                    ", ".join(str(r["errors"]) for r in rs), err * 10000 / max(req, 1),
                    sum(r["errors_late"] for r in rs)))
        out.append("")

    nof = pick("nofile")
    if nof:
        out += ["**Open-files limit reached** (the proxy started under `ulimit -n %s`; %s sessions "
                "exchanging a line every 100 ms, then %s connections at once, each kept once "
                "answered, for a %s s window)" % (nof[0]["nofile"], nof[0]["held"], nof[0]["burst"],
                                                  nof[0]["window_s"]), "",
                "| config | proxy | Maxconn in effect | listen backlog | burst served | refused/reset "
                "| timed out | held sessions failed | held: longest gap between answers "
                "| proxy CPU in the window | fresh session served after | backend connections "
                "after the burst left | sessions back to 0 after |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in nof:
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s ms | %s s | %s | %s | %s |" % (
                r["config"], r["proxy"], r.get("maxconn", "?"), r.get("backlog", "?"),
                r["burst_served"],
                r["burst_refused"] + r["burst_reset"] + r["burst_other"], r["burst_timed_out"],
                r["held_failures"], fmt(r["held_worst_gap_ms"]), fmt(r["cpu_s"]),
                fmt(r["recovery_s"], " s") if r["recovery_s"] is not None else "not in 30 s",
                fmt(r["backend_after_close"]), fmt(r["settle_s"], " s")))
        out.append("")

    idl = pick("idle")
    if idl:
        r0 = idl[0]
        out += ["**Idle sessions** (%s asked, %s opened: %s)" % (
            fmt(r0["asked_sessions"]), fmt(r0["held"]), r0["why"]), "",
                "| proxy | sessions held | RSS before | RSS idle, no byte yet | bytes/session | "
                "RSS after 16 B each way | bytes/session | fds | back to 0 sessions |",
                "|---|---|---|---|---|---|---|---|---|"]
        for r in idl:
            out.append("| %s | %s | %s MiB | %s MiB | %s | %s MiB | %s | %s → %s | %s |" % (
                r["proxy"], fmt(r["held"]), fmt(r["rss_before_kib"] / 1024),
                fmt(r["rss_quiet_kib"] / 1024), fmt(r["bytes_quiet"]),
                fmt(r["rss_after_kib"] / 1024), fmt(r["bytes_after"]),
                fmt(r["fds_before"]), fmt(r["fds_after"]), fmt(r.get("settle_s"), " s")))
        out.append("")

    bur = pick("burst")
    if bur:
        runs = len(pick("burst", proxy="splicer", config=bur[0]["config"])) or 1
        out += ["**%s connections at once** (`maxconn 9000`; %s client processes, each connection "
                "one line to an echo server and back, %s s deadline; a probe session asks every "
                "50 ms meanwhile, through another `listen` to another echo server; medians over %d run(s), each run in brackets)" % (
                    fmt(bur[0]["n"]), bur[0]["procs"], bur[0]["deadline"], runs), "",
                "| config | proxy | listen backlog | served | refused/reset | timed out | all served after | "
                "probe: worst round trip | proxy CPU | sessions back to 0 after |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        configs = []
        for r in bur:
            if r["config"] not in configs:
                configs.append(r["config"])
        for config in configs:
            for px in pxs:
                rs = pick("burst", proxy=px, config=config)
                if not rs:
                    continue
                for r in rs:
                    r["refusedreset"] = r["refused"] + r["reset"] + r["other"]
                cells = []
                for key, unit in (("served", ""), ("refusedreset", ""), ("timed_out", ""),
                                  ("all_served_s", " s"), ("probe_worst_ms", " ms"),
                                  ("cpu_s", " s"), ("settle_s", " s")):
                    vals = [r[key] for r in rs]
                    nums = [v for v in vals if isinstance(v, (int, float))]
                    # A run that missed (None, "never") makes the median a miss.
                    v = statistics.median(nums) if len(nums) == len(vals) else None
                    if isinstance(v, float) and key in ("served", "refusedreset", "timed_out"):
                        v = int(v)
                    each = " (%s)" % ", ".join(fmt(x) for x in vals) if len(rs) > 1 else ""
                    cells.append(fmt(v, unit) + each)
                out.append("| %s | %s | %s | %s |" % (config, px, rs[0].get("backlog", "?"),
                                                      " | ".join(cells)))
        out.append("")
    print("\n".join(out).rstrip())


def main():
    cmds = {"echo": echo, "http": http, "sessions": sessions, "nofile": nofile,
            "burst": burst, "burst-part": burst_part, "idle": idle, "tag": tag, "table": table}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
