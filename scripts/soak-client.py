#!/usr/bin/env python3
"""Load, servers, sampling and verdict for scripts/soak (standard library only).

    echo PORT                       the idle-holder: echoes what it reads and
                                    holds every connection until its peer
                                    closes (runs until SIGTERM)
    cli SOCK COMMAND                one runtime-API command; prints the answer
    load DIR SECONDS                the mixed client load (below) for SECONDS;
                                    DIR/outcomes.tsv and DIR/load.json
    sample DIR PID SOCK SECONDS     a sample every SAMPLE_INTERVAL into
                                    DIR/samples.tsv, until DIR/stop-sampling
                                    exists or SECONDS have passed
    snap PID SOCK                   a dozen quick samples; prints the smallest
                                    of each figure as JSON (the baseline)
    settle PID SOCK BASELINE SECS   samples every 0.25 s until sessions and
                                    slots are 0 and the fds are back to
                                    BASELINE's, at most SECS; prints JSON
    judge DIR                       the summary table (DIR/summary.txt);
                                    exit status 1 when a target is missed

The ports are fixed by scripts/soak and passed in SOAK_WEB, SOAK_BULK and
SOAK_IDLE (splicer's frontends).

The load (threads of this process, iperf3 as a child process), each loop
bounded by SECONDS and by a count; every request is a row of
DIR/outcomes.tsv: kind, start, end (epoch seconds), ok|err, and the server
that answered (X-Server) or the error's reason.
    keepalive  KA_CONNS persistent connections, KA_RATE GETs/s each; a
               connection the server closes is opened again
    close      CLOSE_THREADS threads, CLOSE_RATE GETs/s in all, each with
               `Connection: close` on a connection of its own
    slow       SLOW_CLIENTS clients sending their request a byte every
               SLOW_BYTE_GAP seconds
    reset      GET /big (1 MiB) every RESET_GAP s, read part of the body,
               then close with SO_LINGER 0 (an RST): ok when the part came
    idle       IDLE_CLIENTS connections to `listen idle` (half of them say
               "ping" and check the echo first), then nothing: ok when the
               proxy closes them between IDLE_MIN and IDLE_MAX seconds later
    bulk       iperf3 -c ... -t 20 -b 500M, again and again (shorter at the
               end so it stops with the load)
"""

import json
import os
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

WEB = ("127.0.0.1", int(os.environ.get("SOAK_WEB", "28510")))
BULK = ("127.0.0.1", int(os.environ.get("SOAK_BULK", "28511")))
IDLE = ("127.0.0.1", int(os.environ.get("SOAK_IDLE", "28512")))

MAX_PER_LOOP = 200_000      # the count bound of every load loop
REQUEST_TIMEOUT = 5.0
KA_CONNS = 4
KA_RATE = 25.0
CLOSE_THREADS = 2
CLOSE_RATE = 50.0
SLOW_CLIENTS = 3
SLOW_BYTE_GAP = 0.05
RESET_GAP = 0.5
IDLE_CLIENTS = 8
IDLE_MIN = 2.5              # `timeout client 3s` on listen idle
IDLE_MAX = 10.0
BULK_SECONDS = 20
BULK_RATE = "500M"
SAMPLE_INTERVAL = 2.0
# A worker keeps at most this many empty pipes (src/forward/pipe.rs,
# MAX_IDLE_PIPES_PER_WORKER): pooled pipes up to nbthread x this are not
# leaks.
IDLE_PIPES_PER_WORKER = 64
RSS_LIMIT_PCT = 5.0
# An error counts as explained when its request was in flight at a web2
# kill or a reload, or ran within this long after one.
CHAOS_WINDOW = 2.0


# --- runtime API ------------------------------------------------------------

def cli(sock_path, command, timeout=2.0):
    """One command on the stats socket; the answer as text."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks).decode(errors="replace")
    finally:
        s.close()


# --- the idle-holder / echo server -------------------------------------------

def echo_server(port):
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(512)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    def serve(c):
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = lsock.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


# --- the load ----------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.rows = []

    def add(self, kind, start, ok, what):
        with self.lock:
            self.rows.append((kind, start, time.time(), "ok" if ok else "err", what))


class HttpError(Exception):
    pass


def read_response(sock, limit=None):
    """Reads one HTTP/1.1 response: (status, headers dict, body bytes read).
    With `limit`, stops once that many body bytes came."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = sock.recv(65536)
        if not b:
            raise HttpError("closed before the response" if not buf else "closed inside the headers")
        buf += b
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise HttpError("bad status line %r" % lines[0][:40])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "-1"))
    want = length if limit is None else min(limit, length)
    got = len(body)
    while got < want:
        b = sock.recv(min(65536, want - got) if want - got > 0 else 65536)
        if not b:
            raise HttpError("closed after %d of %d body bytes" % (got, length))
        got += len(b)
    if limit is None and got != length:
        raise HttpError("%d body bytes, Content-Length %d" % (got, length))
    return int(parts[1]), headers, got


def reason(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, HttpError):
        return str(e)
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno)
    return type(e).__name__


def request(path, close):
    conn = "close" if close else "keep-alive"
    return ("GET %s HTTP/1.1\r\nHost: soak\r\nConnection: %s\r\n\r\n" % (path, conn)).encode()


def connect(addr):
    s = socket.create_connection(addr, timeout=REQUEST_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def paced(deadline, rate, body):
    """Calls body() about `rate` times a second until deadline, at most
    MAX_PER_LOOP times."""
    gap = 1.0 / rate
    nxt = time.time()
    for _ in range(MAX_PER_LOOP):
        now = time.time()
        if now >= deadline:
            return
        if nxt > now:
            time.sleep(nxt - now)
        nxt = max(nxt + gap, time.time() - gap)
        body()


def keepalive_loop(rec, deadline):
    # The server of the connection (X-Server of its last answer), so that
    # an error names where the connection went.
    state = {"sock": None, "server": None}

    def drop():
        if state["sock"] is not None:
            state["sock"].close()
        state["sock"] = state["server"] = None

    def one():
        start = time.time()
        s = state["sock"]
        try:
            if s is None:
                s = state["sock"] = connect(WEB)
            s.sendall(request("/", close=False))
            status, headers, _ = read_response(s)
            if status != 200:
                raise HttpError("status %d" % status)
            state["server"] = headers.get("x-server", "?")
            rec.add("keepalive", start, True, state["server"])
            if headers.get("connection", "").lower() == "close":
                drop()
        except Exception as e:  # noqa: BLE001 - every failure is a recorded outcome
            why = reason(e)
            if state["server"]:
                why += " (a connection to %s)" % state["server"]
            rec.add("keepalive", start, False, why)
            drop()

    paced(deadline, KA_RATE, one)
    drop()


def fetch_once(rec, kind, send):
    """One `Connection: close` GET on a new connection, the request written
    by send(sock); records its outcome under kind. True when it passed."""
    start = time.time()
    try:
        s = connect(WEB)
        try:
            send(s)
            status, headers, _ = read_response(s)
        finally:
            s.close()
        if status != 200:
            raise HttpError("status %d" % status)
        rec.add(kind, start, True, headers.get("x-server", "?"))
        return True
    except Exception as e:  # noqa: BLE001 - every failure is a recorded outcome
        rec.add(kind, start, False, reason(e))
        return False


def close_loop(rec, deadline):
    req = request("/", close=True)
    paced(deadline, CLOSE_RATE / CLOSE_THREADS, lambda: fetch_once(rec, "close", lambda s: s.sendall(req)))


def slow_loop(rec, deadline):
    req = request("/", close=True)
    need = len(req) * SLOW_BYTE_GAP + 1.0
    def trickle(s):
        for i in range(len(req)):
            s.sendall(req[i:i + 1])
            time.sleep(SLOW_BYTE_GAP)

    for _ in range(MAX_PER_LOOP):
        if time.time() + need >= deadline:
            return
        if not fetch_once(rec, "slow", trickle):
            time.sleep(0.2)


def reset_loop(rec, deadline):
    linger = struct.pack("ii", 1, 0)

    def one():
        start = time.time()
        try:
            s = connect(WEB)
            try:
                s.sendall(request("/big", close=True))
                want = random.randint(16 * 1024, 512 * 1024)
                status, headers, got = read_response(s, limit=want)
                if status != 200:
                    raise HttpError("status %d" % status)
                if got < want:
                    raise HttpError("%d of the %d bytes wanted" % (got, want))
            finally:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                s.close()  # an RST, with the rest of the file unread
            rec.add("reset", start, True, headers.get("x-server", "?"))
        except Exception as e:  # noqa: BLE001
            rec.add("reset", start, False, reason(e))

    paced(deadline, 1.0 / RESET_GAP, one)


def idle_loop(rec, deadline, n):
    for _ in range(MAX_PER_LOOP):
        if time.time() + IDLE_MIN + 1.0 >= deadline:
            return
        start = time.time()
        try:
            s = socket.create_connection(IDLE, timeout=REQUEST_TIMEOUT)
            try:
                if n % 2:
                    s.sendall(b"ping\n")
                    got = b""
                    while len(got) < 5:
                        b = s.recv(16)
                        if not b:
                            raise HttpError("closed before the echo")
                        got += b
                    if got != b"ping\n":
                        raise HttpError("echo %r" % got[:16])
                quiet = time.time()
                s.settimeout(IDLE_MAX)
                try:
                    b = s.recv(16)
                    if b:
                        raise HttpError("unexpected bytes %r" % b[:16])
                except ConnectionResetError:
                    pass  # an RST closes it as well as a FIN
                except socket.timeout:
                    raise HttpError("not closed by the proxy within %g s" % IDLE_MAX)
                held = time.time() - quiet
                if held < IDLE_MIN:
                    raise HttpError("closed after %.1f s idle, before the 3 s timeout" % held)
            finally:
                s.close()
            rec.add("idle", start, True, "%.1fs" % held)
        except Exception as e:  # noqa: BLE001
            rec.add("idle", start, False, reason(e))
            time.sleep(0.5)


def bulk_loop(rec, deadline, out_dir):
    for i in range(MAX_PER_LOOP):
        secs = min(BULK_SECONDS, int(deadline - time.time() - 1))
        if secs < 3:
            return
        start = time.time()
        cmd = ["iperf3", "-c", BULK[0], "-p", str(BULK[1]), "-t", str(secs),
               "-b", BULK_RATE, "-J"]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 15)
            try:
                res = json.loads(p.stdout)
            except ValueError:
                res = {}
            if p.returncode != 0 or "error" in res:
                why = res.get("error") or (p.stderr.strip().splitlines() or ["rc %d" % p.returncode])[-1]
                rec.add("bulk", start, False, "iperf3: " + why)
            else:
                sent = res["end"]["sum_received"]["bytes"]
                rec.add("bulk", start, True, "%.0f MB" % (sent / 1e6))
        except subprocess.TimeoutExpired:
            rec.add("bulk", start, False, "iperf3 ran past %d s" % (secs + 15))
        with open(os.path.join(out_dir, "iperf3.log"), "a") as f:
            f.write("run %d: %d s\n" % (i + 1, secs))


def load(out_dir, seconds):
    deadline = time.time() + seconds
    rec = Recorder()
    threads = []

    def spawn(fn, *args):
        t = threading.Thread(target=fn, args=(rec, deadline) + args, daemon=True)
        t.start()
        threads.append(t)

    for _ in range(KA_CONNS):
        spawn(keepalive_loop)
    for _ in range(CLOSE_THREADS):
        spawn(close_loop)
    for _ in range(SLOW_CLIENTS):
        spawn(slow_loop)
    spawn(reset_loop)
    for n in range(IDLE_CLIENTS):
        spawn(idle_loop, n)
    spawn(bulk_loop, out_dir)
    # Every loop stops at the deadline; a request in flight then ends
    # within its timeout (idle: IDLE_MAX; bulk: its own timeout).
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.time()) + BULK_SECONDS + 20)
    stuck = sum(t.is_alive() for t in threads)
    rows = sorted(rec.rows, key=lambda r: r[1])
    with open(os.path.join(out_dir, "outcomes.tsv"), "w") as f:
        for kind, start, end, ok, what in rows:
            f.write("%s\t%.3f\t%.3f\t%s\t%s\n" % (kind, start, end, ok, what))
    counts = {}
    for kind, _, _, ok, what in rows:
        c = counts.setdefault(kind, {"ok": 0, "err": 0, "by": {}})
        c[ok] += 1
        key = what if ok == "err" or kind in ("keepalive", "close", "slow", "reset") else "ok"
        c["by"][key] = c["by"].get(key, 0) + 1
    with open(os.path.join(out_dir, "load.json"), "w") as f:
        json.dump({"seconds": seconds, "stuck_threads": stuck, "counts": counts}, f, indent=1)
    return 0


# --- sampling ----------------------------------------------------------------

def snapshot(pid, sock_path):
    """The process's figures now. fds are counted before the runtime API is
    asked, so the sampler's own CLI connection is never among them."""
    fds = pipes = sockets = 0
    fd_dir = "/proc/%d/fd" % pid
    for name in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue  # closed meanwhile
        fds += 1
        if target.startswith("pipe:"):
            pipes += 1
        elif target.startswith("socket:"):
            sockets += 1
    rss = threads = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    info = {}
    for line in cli(sock_path, "show info").splitlines():
        k, sep, v = line.partition(":")
        if sep:
            info[k.strip()] = v.strip()
    fe = srv = be = qcur = 0
    status = {}
    stat = cli(sock_path, "show stat").splitlines()
    if stat and stat[0].startswith("# "):
        cols = stat[0][2:].split(",")
        ix = {c: i for i, c in enumerate(cols)}
        for line in stat[1:]:
            f = line.split(",")
            if len(f) < len(cols):
                continue
            scur = int(f[ix["scur"]] or 0)
            if f[1] == "FRONTEND":
                fe += scur
            elif f[1] == "BACKEND":
                be += scur
                qcur += int(f[ix["qcur"]] or 0)
            else:
                srv += scur
                qcur += int(f[ix["qcur"]] or 0)
                status["%s/%s" % (f[0], f[1])] = f[ix["status"]]
    sess = sum(1 for line in cli(sock_path, "show sess").splitlines() if line.startswith("0x"))
    return {
        "t": time.time(), "fds": fds, "pipe_fds": pipes, "socket_fds": sockets,
        "other_fds": fds - pipes, "rss_kib": rss, "threads": threads,
        "sessions": int(info.get("CurrConns", -1)),
        "pipes_used": int(info.get("PipesUsed", -1)),
        "maxpipes": int(info.get("Maxpipes", -1)),
        "nbthread": int(info.get("Nbthread", 1)),
        "fe_scur": fe, "be_scur": be, "srv_scur": srv, "qcur": qcur,
        "show_sess": sess, "status": status,
    }


SAMPLE_COLS = ["t", "fds", "pipe_fds", "other_fds", "rss_kib", "sessions",
               "pipes_used", "fe_scur", "srv_scur", "qcur", "show_sess", "threads"]


def sample(out_dir, pid, sock_path, seconds):
    path = os.path.join(out_dir, "samples.tsv")
    stop = os.path.join(out_dir, "stop-sampling")
    end = time.time() + seconds
    nxt = time.time()
    with open(path, "w") as f:
        f.write("\t".join(SAMPLE_COLS) + "\tweb1\tweb2\n")
        f.flush()
        while time.time() < end and not os.path.exists(stop):
            try:
                s = snapshot(pid, sock_path)
            except (OSError, ValueError) as e:
                f.write("# %.3f sample failed: %s\n" % (time.time(), reason(e)))
                if not os.path.exists("/proc/%d" % pid):
                    return 1
            else:
                row = ["%.3f" % s["t"]] + [str(s[c]) for c in SAMPLE_COLS[1:]]
                row += [s["status"].get("web/web1", "?").replace(" ", "_"),
                        s["status"].get("web/web2", "?").replace(" ", "_")]
                f.write("\t".join(row) + "\n")
            f.flush()
            nxt += SAMPLE_INTERVAL
            time.sleep(max(0.0, nxt - time.time()))
    return 0


def snap(pid, sock_path):
    """The baseline: the smallest of each figure over a dozen quick samples
    (a health check's connection may be open in any one of them)."""
    snaps = []
    for _ in range(12):
        snaps.append(snapshot(pid, sock_path))
        time.sleep(0.25)
    base = {k: min(s[k] for s in snaps) for k in snaps[0] if k not in ("t", "status")}
    base["max_other_fds"] = max(s["other_fds"] for s in snaps)
    base["t"] = snaps[-1]["t"]
    print(json.dumps(base))
    return 0


def settled_ok(s, base):
    return (s["sessions"] == 0 and s["fe_scur"] == 0 and s["srv_scur"] == 0
            and s["be_scur"] == 0 and s["qcur"] == 0 and s["show_sess"] == 0
            and s["other_fds"] <= base["other_fds"]
            and s["pipe_fds"] - 2 * s["pipes_used"] <= base["pipe_fds"] - 2 * base["pipes_used"])


def settle(pid, sock_path, base_file, seconds):
    with open(base_file) as f:
        base = json.load(f)
    t0 = time.time()
    s = snapshot(pid, sock_path)
    while not settled_ok(s, base) and time.time() - t0 < seconds:
        time.sleep(0.25)
        s = snapshot(pid, sock_path)
    s["settled"] = settled_ok(s, base)
    s["waited"] = round(time.time() - t0, 2)
    print(json.dumps(s))
    return 0


# --- the verdict -------------------------------------------------------------

def read_chaos(path):
    events = []
    with open(path) as f:
        for line in f:
            t, _, rest = line.rstrip("\n").partition("\t")
            what, _, detail = rest.partition("\t")
            events.append((float(t), what, detail))
    return events


def read_samples(path):
    rows = []
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            if line.startswith("#"):
                continue
            v = line.rstrip("\n").split("\t")
            rows.append({k: (float(x) if k == "t" else int(x) if x.lstrip("-").isdigit() else x)
                         for k, x in zip(head, v)})
    return rows


def explain(err, events):
    """The chaos event an error is blamed on, or None. The request must have
    been in flight at the event, or started within CHAOS_WINDOW after it."""
    kind, start, end = err[0], err[1], err[2]
    for t, what, _ in events:
        if what not in ("kill-web2", "reload"):
            continue
        if start <= t <= end:
            return "%s in flight at the %s" % (kind, what)
        if t <= start <= t + CHAOS_WINDOW:
            return "%s started %.1f s after the %s" % (kind, start - t, what)
    return None


def judge(out_dir):
    events = read_chaos(os.path.join(out_dir, "chaos.log"))
    t_load = next(t for t, w, _ in events if w == "load-start")
    t_stop = next(t for t, w, _ in events if w == "load-end")
    with open(os.path.join(out_dir, "baseline.json")) as f:
        base = json.load(f)
    with open(os.path.join(out_dir, "settled.json")) as f:
        end = json.load(f)
    with open(os.path.join(out_dir, "load.json")) as f:
        load_res = json.load(f)
    samples = read_samples(os.path.join(out_dir, "samples.tsv"))
    errors = []
    held = []       # idle sessions: seconds until the proxy closed them
    bulk_mb = 0.0
    with open(os.path.join(out_dir, "outcomes.tsv")) as f:
        for line in f:
            kind, start, stop, ok, what = line.rstrip("\n").split("\t", 4)
            if ok == "err":
                errors.append((kind, float(start), float(stop), what))
            elif kind == "idle":
                held.append(float(what.rstrip("s")))
            elif kind == "bulk":
                bulk_mb += float(what.split()[0])

    out = []
    misses = []

    def p(line=""):
        out.append(line)

    def check(name, ok, detail):
        p("  %-34s %-4s %s" % (name, "ok" if ok else "MISS", detail))
        if not ok:
            misses.append("%s: %s" % (name, detail))

    secs = t_stop - t_load
    p("soak: %.0f s of load (%s), samples every %g s: %d" % (
        secs, time.strftime("%H:%M:%S", time.localtime(t_load)), SAMPLE_INTERVAL, len(samples)))

    # RSS: under load at both ends, each the median of the samples in a
    # 10 s window, so one sample's luck does not decide.
    load_samples = [s for s in samples if t_load <= s["t"] <= t_stop]
    warm = min(30.0, secs / 3)
    win = min(10.0, secs / 6)
    first = [s["rss_kib"] for s in load_samples if t_load + warm <= s["t"] < t_load + warm + win]
    last = [s["rss_kib"] for s in load_samples if t_stop - win <= s["t"]]
    rss_base = int(statistics.median(first)) if first else None
    rss_end = int(statistics.median(last)) if last else None
    rss_peak = max((s["rss_kib"] for s in samples), default=0)

    p()
    p("  %-22s %12s %12s %12s" % ("", "baseline", "peak", "end"))

    def row(name, b, key, e):
        peak = max((s[key] for s in samples if isinstance(s.get(key), int)), default=0)
        p("  %-22s %12s %12s %12s" % (name, b, peak, e))

    row("open fds", base["fds"], "fds", end["fds"])
    row("  pipe fds", base["pipe_fds"], "pipe_fds", end["pipe_fds"])
    row("  other fds", base["other_fds"], "other_fds", end["other_fds"])
    row("PipesUsed (show info)", base["pipes_used"], "pipes_used", end["pipes_used"])
    row("sessions (CurrConns)", base["sessions"], "sessions", end["sessions"])
    row("show sess lines", base["show_sess"], "show_sess", end["show_sess"])
    row("slots: frontend scur", base["fe_scur"], "fe_scur", end["fe_scur"])
    row("slots: server scur", base["srv_scur"], "srv_scur", end["srv_scur"])
    row("slots: queue qcur", base["qcur"], "qcur", end["qcur"])
    p("  %-22s %12s %12s %12s" % ("VmRSS KiB", rss_base, rss_peak, rss_end))
    p("    (RSS baseline: median of the samples %.0f-%.0f s into the load; end: the last %.0f s of"
      % (warm, warm + win, win))
    p("     load; after the load, settled: %d KiB; before the load: %d KiB)" % (end["rss_kib"], base["rss_kib"]))
    p("  settled %.2f s after the load stopped%s" % (end["waited"], "" if end["settled"] else " (NOT within the limit)"))

    p()
    p("  load (ok / errors):")
    for kind in ("keepalive", "close", "slow", "reset", "idle", "bulk"):
        c = load_res["counts"].get(kind, {"ok": 0, "err": 0, "by": {}})
        by = ", ".join("%s %d" % (k, v) for k, v in sorted(c["by"].items()) if k.startswith("web"))
        if kind == "idle" and held:
            by = "closed by the proxy after %.1f-%.1f s idle" % (min(held), max(held))
        if kind == "bulk":
            by = "%.0f MB through iperf3" % bulk_mb
        p("    %-10s %7d / %-4d %s" % (kind, c["ok"], c["err"], by))
    chaos = [(t, w, d) for t, w, d in events if w not in ("load-start", "load-end")]
    counts = {}
    for _, w, _ in chaos:
        counts[w] = counts.get(w, 0) + 1
    p("  chaos: " + ", ".join("%s %d" % kv for kv in sorted(counts.items())))

    unexplained = []
    blamed = {}
    for e in errors:
        why = explain(e, events)
        if why is None:
            unexplained.append(e)
        else:
            event = why.split(" at the ")[-1].split(" after the ")[-1]
            when = "in flight" if " in flight " in why else "started <= %g s after" % CHAOS_WINDOW
            key = "%s, %s: %s" % (event, when, e[3])
            blamed.setdefault(key, []).append(e)
    if errors:
        p("  client errors, by the event they followed and their reason:")
        for key, es in sorted(blamed.items()):
            kinds = {}
            for e in es:
                kinds[e[0]] = kinds.get(e[0], 0) + 1
            p("    %4d  %s (%s)" % (len(es), key, ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
        for e in unexplained:
            p("    UNEXPLAINED %s at +%.2f s (ran %.2f s): %s" % (e[0], e[1] - t_load, e[2] - e[1], e[3]))

    p()
    p("  checks:")
    pool_max = base["nbthread"] * IDLE_PIPES_PER_WORKER
    stray_base = base["pipe_fds"] - 2 * base["pipes_used"]
    stray_end = end["pipe_fds"] - 2 * end["pipes_used"]
    check("sessions back to 0", end["sessions"] == 0 and end["show_sess"] == 0,
          "CurrConns %d, show sess %d" % (end["sessions"], end["show_sess"]))
    check("slots back to 0", end["fe_scur"] == 0 and end["srv_scur"] == 0 and end["be_scur"] == 0 and end["qcur"] == 0,
          "frontend %d, backend %d, server %d, queue %d" % (end["fe_scur"], end["be_scur"], end["srv_scur"], end["qcur"]))
    check("non-pipe fds back to baseline", end["other_fds"] <= base["other_fds"],
          "%d, baseline %d" % (end["other_fds"], base["other_fds"]))
    check("every pipe fd is a counted pipe", stray_end <= stray_base,
          "%d pipe fds = 2 x PipesUsed %d + %d other (baseline %d other)"
          % (end["pipe_fds"], end["pipes_used"], stray_end, stray_base))
    check("pipes left are pooled, in bounds", end["pipes_used"] <= pool_max,
          "%d idle pipes kept, pool limit %d (%d workers x %d); maxpipes %d"
          % (end["pipes_used"], pool_max, base["nbthread"], IDLE_PIPES_PER_WORKER, base["maxpipes"]))
    if rss_base:
        growth = 100.0 * (rss_end - rss_base) / rss_base
        check("RSS growth <= %g %%" % RSS_LIMIT_PCT, growth <= RSS_LIMIT_PCT,
              "%+.2f %% (%d -> %d KiB)" % (growth, rss_base, rss_end))
    else:
        check("RSS growth <= %g %%" % RSS_LIMIT_PCT, False, "no samples in the baseline window")
    check("client errors explained by chaos", not unexplained,
          "%d errors, %d unexplained" % (len(errors), len(unexplained)))
    every = all(load_res["counts"].get(k, {}).get("ok", 0) > 0
                for k in ("keepalive", "close", "slow", "reset", "idle", "bulk"))
    check("every kind of load ran", every and load_res["stuck_threads"] == 0,
          "stuck threads %d" % load_res["stuck_threads"])
    p()
    p("soak: PASS" if not misses else "soak: FAIL: " + "; ".join(misses))
    text = "\n".join(out) + "\n"
    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0 if not misses else 1


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
    cmd, args = argv[1], argv[2:]
    if cmd == "echo" and len(args) == 1:
        return echo_server(int(args[0]))
    if cmd == "cli" and len(args) == 2:
        sys.stdout.write(cli(args[0], args[1]))
        return 0
    if cmd == "load" and len(args) == 2:
        return load(args[0], float(args[1]))
    if cmd == "sample" and len(args) == 4:
        return sample(args[0], int(args[1]), args[2], float(args[3]))
    if cmd == "snap" and len(args) == 2:
        return snap(int(args[0]), args[1])
    if cmd == "settle" and len(args) == 4:
        return settle(int(args[0]), args[1], args[2], float(args[3]))
    if cmd == "judge" and len(args) == 1:
        return judge(args[0])
    print("soak-client.py: bad arguments (see --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
