#!/usr/bin/env python3
"""The scenarios of scripts/stress: each proxy (splicer, HAProxy 2.6) on the
same config, one after the other, on 127.0.0.1:28601-28699.

usage: stress-helper.py SPLICER HAPROXY DIR SCENARIO [ARGS]
  kill REPS        a backend killed under keep-alive and close load
  nofile           RLIMIT_NOFILE 256 reached by a burst, 30 sessions held
  burst N          N connections at once, a probe session timed
  idle N           N idle sessions: RSS per session
  echo PORT..      (internal) an echo server on those ports
Prints one JSON object per proxy and scenario on stdout."""

import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"
FE = 28610            # the proxy's listener
STATS = "stats.sock"
ECHO_PORTS = list(range(28620, 28628))
WEB_PORTS = [28631, 28632, 28633]
TICK = 0.01
# What this process started and has not stopped yet: stopped at exit,
# whatever ends it.
STARTED = []
CHILDREN = []


def raise_nofile():
    """The soft open-files limit up to the hard one (raising the hard one
    needs CAP_SYS_RESOURCE, which a container may not give)."""
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def log(*a):
    print("stress:", *a, file=sys.stderr, flush=True)


def wait_until(what, limit, cond):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(TICK)
    raise SystemExit("stress: timed out waiting for %s" % what)


def listening(port):
    try:
        socket.create_connection((HOST, port), timeout=0.2).close()
        return True
    except OSError:
        return False


def cpu_secs(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stats(dirpath, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(os.path.join(dirpath, STATS))
    s.sendall(cmd.encode() + b"\n")
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out.decode()


def curr_conns(dirpath):
    m = re.search(r"^CurrConns: (\d+)", stats(dirpath, "show info"), re.M)
    return int(m.group(1)) if m else -1


# --- proxies ----------------------------------------------------------------

def config(dirpath, servers, extra_global="", extra_defaults="", balance="roundrobin",
           server_opts=""):
    lines = [
        "global",
        "    nbthread 2",
        "    stats socket %s level admin" % os.path.join(dirpath, STATS),
        extra_global,
        "defaults",
        "    mode tcp",
        "    timeout connect 2s",
        "    timeout client 60s",
        "    timeout server 60s",
        extra_defaults,
        "listen fe",
        "    bind %s:%d" % (HOST, FE),
        "    balance %s" % balance,
    ]
    for i, port in enumerate(servers):
        lines.append("    server s%d %s:%d %s" % (i + 1, HOST, port, server_opts))
    return "\n".join(lines) + "\n"


class Proxy:
    def __init__(self, name, binary, dirpath, text, nofile=None):
        self.name = name
        os.makedirs(dirpath, exist_ok=True)
        STARTED.append(self)
        self.dir = dirpath
        cfg = os.path.join(dirpath, "proxy.cfg")
        with open(cfg, "w") as f:
            f.write(text)
        cmd = [binary, "-f", cfg]
        if name == "haproxy":
            cmd = [binary, "-db", "-f", cfg]
        if nofile:
            cmd = ["prlimit", "--nofile=%d:%d" % (nofile, nofile), "--"] + cmd
        self.log = open(os.path.join(dirpath, "proxy.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until("%s listening" % name, 10, lambda: listening(FE))
        wait_until("%s stats socket" % name, 10,
                   lambda: os.path.exists(os.path.join(dirpath, STATS)))
        self.pid = self.proc.pid

    def stop(self):
        if self in STARTED:
            STARTED.remove(self)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        wait_until("port %d free" % FE, 10, lambda: not listening(FE))


# --- echo backend (a separate process, selectors) ---------------------------

def echo_server(ports):
    raise_nofile()
    sel = selectors.DefaultSelector()
    for p in ports:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((HOST, p))
        ls.listen(4096)
        ls.setblocking(False)
        sel.register(ls, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                try:
                    while True:
                        c, _ = key.fileobj.accept()
                        c.setblocking(False)
                        sel.register(c, selectors.EVENT_READ, "c")
                except (BlockingIOError, OSError):
                    pass
            else:
                c = key.fileobj
                try:
                    b = c.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    b = b""
                if not b:
                    sel.unregister(c)
                    c.close()
                    continue
                try:
                    c.sendall(b)
                except OSError:
                    sel.unregister(c)
                    c.close()


def start_echo():
    p = subprocess.Popen([sys.executable, __file__, "-", "-", "-", "echo"] +
                         [str(x) for x in ECHO_PORTS])
    CHILDREN.append(p)
    wait_until("the echo server", 10, lambda: all(listening(x) for x in ECHO_PORTS))
    return p


def stop(p):
    p.kill()
    p.wait()


# --- nginx backends ---------------------------------------------------------

def start_nginx(dirpath, port):
    d = os.path.join(dirpath, "nginx-%d" % port)
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write("""daemon off; master_process off; worker_processes 1;
pid %s/nginx.pid; error_log %s/logs/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 60s;
  server { listen %s:%d; location / { return 200 "ok\\n"; } } }
""" % (d, d, HOST, port))
    p = subprocess.Popen(["nginx", "-e", "stderr", "-p", d, "-c", os.path.join(d, "nginx.conf")],
                         stderr=subprocess.DEVNULL)
    CHILDREN.append(p)
    wait_until("nginx :%d" % port, 10, lambda: listening(port))
    return p


def h2load(secs, extra):
    out = subprocess.run(["h2load", "--h1", "-c", "8", "-t", "1", "-D", str(secs)] + extra +
                         ["http://%s:%d/" % (HOST, FE)],
                         capture_output=True, text=True, timeout=secs + 30).stdout
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    status = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not m:
        raise SystemExit("stress: cannot read h2load's output:\n" + out)
    done, ok = int(m.group(3)), int(m.group(4))
    return {"done": done, "succeeded": ok, "failed": done - ok + int(m.group(6)) + int(m.group(7)),
            "5xx": int(status.group(4)) if status else 0}


def close_loop(secs, threads=4):
    """One GET per connection, `threads` at a time, for `secs`."""
    res = {"done": 0, "failed": 0}
    lock = threading.Lock()
    end = time.monotonic() + secs

    def run():
        while time.monotonic() < end:
            ok = False
            try:
                s = socket.create_connection((HOST, FE), timeout=5)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    data += b
                s.close()
                ok = data.startswith(b"HTTP/1.1 200")
            except OSError:
                ok = False
            with lock:
                res["done"] += 1
                res["failed"] += 0 if ok else 1

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return res


def scenario_kill(name, binary, dirpath, reps):
    out = []
    for mode in ("keepalive", "close"):
        for rep in range(reps):
            webs = [start_nginx(dirpath, p) for p in WEB_PORTS]
            px = Proxy(name, binary, os.path.join(dirpath, name),
                       config(os.path.join(dirpath, name), WEB_PORTS, extra_defaults="    retries 3\n    option redispatch",
                              server_opts="check inter 1s"))
            result = {}
            killer = threading.Timer(3.0, lambda: (webs[1].kill(), webs[1].wait()))
            killer.start()
            if mode == "keepalive":
                result = h2load(8, [])
            else:
                result = close_loop(8)
            killer.join()
            px.stop()
            for w in webs:
                if w.poll() is None:
                    w.kill()
                    w.wait()
            r = {"scenario": "kill", "proxy": name, "mode": mode, "rep": rep, **result}
            log(json.dumps(r))
            out.append(r)
    return out


def connect_many(n, port=FE, sources=None, deadline=30.0, line=b"x\n", hold=False):
    """Opens n connections (non-blocking), sends `line` on each and waits
    for it back. Returns (served, refused, timed_out, seconds, sockets)."""
    raise_nofile()
    sel = selectors.DefaultSelector()
    state = {}
    refused = 0
    t0 = time.monotonic()
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        if sources:
            s.bind((sources[i % len(sources)], 0))
        try:
            s.connect((HOST, port))
        except BlockingIOError:
            pass
        except OSError:
            refused += 1
            s.close()
            continue
        sel.register(s, selectors.EVENT_WRITE, "c")
        state[s] = "connecting"
    served = 0
    done = []
    end = t0 + deadline
    while state and time.monotonic() < end:
        for key, ev in sel.select(timeout=0.1):
            s = key.fileobj
            if state.get(s) == "connecting":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    refused += 1
                    sel.unregister(s)
                    s.close()
                    del state[s]
                    continue
                if line:
                    try:
                        s.send(line)
                    except OSError:
                        refused += 1
                        sel.unregister(s)
                        s.close()
                        del state[s]
                        continue
                    state[s] = "waiting"
                    sel.modify(s, selectors.EVENT_READ, "r")
                else:
                    served += 1
                    sel.unregister(s)
                    del state[s]
                    done.append(s)
            else:
                try:
                    b = s.recv(100)
                except OSError:
                    b = b""
                sel.unregister(s)
                del state[s]
                if b:
                    served += 1
                    if hold:
                        done.append(s)
                    else:
                        s.close()
                else:
                    refused += 1
                    s.close()
    secs = time.monotonic() - t0
    timed_out = len(state)
    for s in list(state):
        sel.unregister(s)
        s.close()
    if not hold:
        for s in done:
            s.close()
        done = []
    return served, refused, timed_out, secs, done


class Probe(threading.Thread):
    """Sessions exchanging a line every `every` s; keeps the worst wait."""

    def __init__(self, n, every):
        super().__init__(daemon=True)
        self.socks = [socket.create_connection((HOST, FE), timeout=10) for _ in range(n)]
        for s in self.socks:
            s.settimeout(10)
        self.every = every
        self.worst = 0.0
        self.errors = 0
        self.stop_at = None
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            for s in self.socks:
                t = time.monotonic()
                try:
                    s.sendall(b"p\n")
                    if not s.recv(10):
                        self.errors += 1
                except OSError:
                    self.errors += 1
                self.worst = max(self.worst, time.monotonic() - t)
            time.sleep(self.every)

    def finish(self):
        self.halt.set()
        self.join(15)
        for s in self.socks:
            s.close()


def fresh_ok():
    try:
        s = socket.create_connection((HOST, FE), timeout=1)
        s.settimeout(1)
        s.sendall(b"f\n")
        ok = s.recv(10) == b"f\n"
        s.close()
        return ok
    except OSError:
        return False


def scenario_nofile(name, binary, dirpath):
    echo = start_echo()
    px = Proxy(name, binary, os.path.join(dirpath, name), config(os.path.join(dirpath, name), ECHO_PORTS), nofile=256)
    probe = Probe(30, 0.1)
    probe.start()
    c0 = cpu_secs(px.pid)
    served, refused, timed_out, secs, held = connect_many(1000, deadline=10, hold=True)
    c1 = cpu_secs(px.pid)
    for s in held:
        s.close()
    t = time.monotonic()
    wait_until("a fresh session served", 60, fresh_ok)
    recovery = time.monotonic() - t
    probe.finish()
    r = {"scenario": "nofile", "proxy": name, "burst_served": served, "burst_refused": refused,
         "burst_timed_out": timed_out, "held_errors": probe.errors,
         "held_worst_ms": round(probe.worst * 1000, 1), "cpu_s": round(c1 - c0, 2),
         "recovery_s": round(recovery, 3)}
    px.stop()
    stop(echo)
    log(json.dumps(r))
    return [r]


def scenario_burst(name, binary, dirpath, n):
    echo = start_echo()
    px = Proxy(name, binary, os.path.join(dirpath, name),
               config(os.path.join(dirpath, name), ECHO_PORTS, extra_global="    maxconn 9000"))
    probe = Probe(1, 0.05)
    probe.start()
    c0 = cpu_secs(px.pid)
    sources = ["127.0.1.%d" % i for i in range(1, 9)]
    served, refused, timed_out, secs, _ = connect_many(n, sources=sources, deadline=30)
    c1 = cpu_secs(px.pid)
    probe.finish()
    wait_until("CurrConns back to 0", 30, lambda: curr_conns(px.dir) == 0)
    r = {"scenario": "burst", "proxy": name, "n": n, "served": served, "refused": refused,
         "timed_out": timed_out, "seconds": round(secs, 2),
         "probe_worst_ms": round(probe.worst * 1000, 1), "probe_errors": probe.errors,
         "cpu_s": round(c1 - c0, 2), "curr_conns_after": curr_conns(px.dir)}
    px.stop()
    stop(echo)
    log(json.dumps(r))
    return [r]


def scenario_idle(name, binary, dirpath, n):
    echo = start_echo()
    # Each session takes 2 descriptors in the proxy: the hard limit (which
    # only CAP_SYS_RESOURCE raises) bounds how many can be held.
    hard = raise_nofile()
    cap = (hard - 400) // 2 - 100
    if n > cap:
        log("idle: %d sessions asked, %d at most under the open-files limit %d" % (n, cap, hard))
        n = cap
    px = Proxy(name, binary, os.path.join(dirpath, name),
               config(os.path.join(dirpath, name), ECHO_PORTS, extra_global="    maxconn %d" % (n + 100)))
    before = rss_kib(px.pid)
    sources = ["127.0.%d.%d" % (2 + i // 250, 1 + i % 250) for i in range((n // 20000) + 8)]
    served, refused, timed_out, secs, held = connect_many(
        n, sources=sources, deadline=max(60, n / 500), line=b"i\n", hold=True)
    wait_until("the sessions counted", 60, lambda: curr_conns(px.dir) >= served)
    after = rss_kib(px.pid)
    r = {"scenario": "idle", "proxy": name, "n": n, "nofile_hard": hard, "held": served, "failed": refused + timed_out,
         "rss_before_kib": before, "rss_after_kib": after,
         "bytes_per_session": round((after - before) * 1024 / max(served, 1)),
         "open_seconds": round(secs, 1)}
    for s in held:
        s.close()
    px.stop()
    stop(echo)
    log(json.dumps(r))
    return [r]


def table(path):
    """The results as markdown: one table per scenario, the two proxies side
    by side (kill: summed over the repetitions)."""
    rows = [json.loads(l) for l in open(path) if l.strip()]
    out = []
    by = lambda sc: [r for r in rows if r["scenario"] == sc]
    kill = by("kill")
    if kill:
        out.append("| server killed under load | proxy | requests | failed | per 10,000 |")
        out.append("|---|---|---|---|---|")
        for mode in ("keepalive", "close"):
            for px in ("splicer", "haproxy"):
                rs = [r for r in kill if r["mode"] == mode and r["proxy"] == px]
                if not rs:
                    continue
                done = sum(r["done"] for r in rs)
                failed = sum(r["failed"] for r in rs)
                per = [str(r["failed"]) for r in rs]
                out.append("| %s (%d runs: %s failed) | %s | %d | %d | %.2f |" % (
                    "keep-alive" if mode == "keepalive" else "one request per connection",
                    len(rs), ", ".join(per), px, done, failed, failed * 10000 / max(done, 1)))
        out.append("")
    for sc, cols in (
        ("nofile", ["burst_served", "burst_refused", "burst_timed_out", "held_errors",
                    "held_worst_ms", "cpu_s", "recovery_s"]),
        ("burst", ["n", "served", "refused", "timed_out", "seconds", "probe_worst_ms",
                   "probe_errors", "cpu_s", "curr_conns_after"]),
        ("idle", ["n", "nofile_hard", "held", "failed", "rss_before_kib", "rss_after_kib",
                  "bytes_per_session", "open_seconds"]),
    ):
        rs = by(sc)
        if not rs:
            continue
        out.append("| %s | %s |" % (sc, " | ".join(r["proxy"] for r in rs)))
        out.append("|---|" + "---|" * len(rs))
        for c in cols:
            out.append("| %s | %s |" % (c, " | ".join(str(r.get(c, "")) for r in rs)))
        out.append("")
    print("\n".join(out))


def cleanup():
    for px in list(STARTED):
        px.proc.kill()
        px.proc.wait()
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "table":
        table(sys.argv[2])
        return
    if len(sys.argv) >= 5 and sys.argv[4] == "echo":
        echo_server([int(p) for p in sys.argv[5:]])
        return
    splicer, haproxy, dirpath, what = sys.argv[1:5]
    args = sys.argv[5:]
    results = []
    for name, binary in (("splicer", splicer), ("haproxy", haproxy)):
        if what == "kill":
            results += scenario_kill(name, binary, dirpath, int(args[0]))
        elif what == "nofile":
            results += scenario_nofile(name, binary, dirpath)
        elif what == "burst":
            results += scenario_burst(name, binary, dirpath, int(args[0]))
        elif what == "idle":
            results += scenario_idle(name, binary, dirpath, int(args[0]))
        else:
            raise SystemExit("stress-helper: unknown scenario " + what)
    for r in results:
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
