#!/usr/bin/env python3
"""Clients and arithmetic for scripts/drill (standard library only).

    ports N                         N distinct free TCP ports on 127.0.0.1
    probe-http ADDR N               N GETs; prints the servers that answered
    http ADDR SECONDS THREADS OUT   HTTP/1.0 GETs, one connection each
    mysql ADDR SECONDS THREADS OUT  `mariadb -e 'SELECT @@server_id'`, one connection each
    summary OUT T_DEAD [T_DOWN]     counts from OUT as "key value" lines

ADDR is PORT (on 127.0.0.1) or HOST:PORT. mysql logs in as DRILL_DB_USER
(default app; the mariadb client takes a password from MYSQL_PWD) and runs
DRILL_SQL instead when set; its answer, tabs as ':', names who answered.
The http and mysql loops also stop once the file DRILL_STOP_FILE exists.
Every request is one line of OUT: start (epoch seconds, taken just before
connecting), end, "ok" or "err", and who answered (web1..web3, or a MariaDB
server_id) or the error. The loops are bounded: SECONDS of wall time,
MAX_REQUESTS requests, REQUEST_TIMEOUT per request.
"""

import os
import socket
import subprocess
import sys
import threading
import time

MAX_REQUESTS = 100_000
REQUEST_TIMEOUT = 5.0
# Each client waits this long between requests: a steady load that leaves
# CPU to the LB's health checks and stays far from running out of ports.
PACE = 0.004


def free_ports(n):
    # All bound at once, so they differ; closed before the servers bind them.
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    print(" ".join(map(str, ports)))


def parse_addr(arg):
    """PORT (127.0.0.1) or HOST:PORT."""
    host, _, port = arg.rpartition(":")
    return (host or "127.0.0.1", int(port))


def served_by(data):
    """The web server named by a response, or OSError."""
    if not data:
        raise OSError("connection closed without a response")
    status = data.split(b"\r\n", 1)[0].decode("latin-1")
    if " 200 " not in status + " ":
        raise OSError(f"status line {status!r}")
    marker = b"served by "
    i = data.find(marker)
    if i < 0:
        raise OSError("page does not name its server")
    return data[i + len(marker):].split(b"<", 1)[0].decode().strip()


def http_once(addr):
    """One GET through its own connection; the page names its server."""
    with socket.create_connection(addr, timeout=REQUEST_TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: www.foobar.com\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return served_by(data)


def probe_http(port, n):
    seen = set()
    for _ in range(n):
        try:
            seen.add(http_once(port))
        except OSError:
            pass
    print(" ".join(sorted(seen)))


def mysql_once(addr):
    """One `SELECT @@server_id` through the mariadb client, as an app would."""
    user = os.environ.get("DRILL_DB_USER", "app")
    sql = os.environ.get("DRILL_SQL", "SELECT @@server_id")
    p = subprocess.run(
        ["mariadb", "--no-defaults", f"-h{addr[0]}", f"-P{addr[1]}", f"-u{user}",
         f"--connect-timeout={int(REQUEST_TIMEOUT)}", "-N", "-B", "-e", sql],
        capture_output=True, text=True, timeout=REQUEST_TIMEOUT + 1)
    if p.returncode != 0:
        raise OSError(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}")
    return p.stdout.strip().replace("\t", ":").replace("\n", ":")


def load(once, port, seconds, threads, out):
    deadline = time.time() + seconds
    lock = threading.Lock()
    rows = []

    stop = os.environ.get("DRILL_STOP_FILE")

    def worker():
        while time.time() < deadline and not (stop and os.path.exists(stop)):
            with lock:
                if len(rows) >= MAX_REQUESTS:
                    return
            start = time.time()
            try:
                who, ok = once(port), "ok"
            except (OSError, subprocess.SubprocessError) as e:
                who, ok = (str(e) or type(e).__name__).replace("\t", " ").replace("\n", " "), "err"
            with lock:
                rows.append((start, time.time(), ok, who))
            time.sleep(PACE)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(out, "w") as f:
        for r in sorted(rows):
            f.write("%.6f\t%.6f\t%s\t%s\n" % r)


def summary(out, t_dead, t_down=None):
    """Counts for the drill's report. "after" = the connection was opened
    once the killed server's process was gone."""
    rows = []
    with open(out) as f:
        for line in f:
            start, end, ok, who = line.rstrip("\n").split("\t", 3)
            rows.append((float(start), float(end), ok, who))
    ok = [r for r in rows if r[2] == "ok"]
    err = [r for r in rows if r[2] == "err"]
    after = [r for r in rows if r[0] >= t_dead]
    err_after = [r for r in after if r[2] == "err"]
    by = {}
    for r in ok:
        by[r[3]] = by.get(r[3], 0) + 1
    by_after = {}
    for r in after:
        if r[2] == "ok":
            by_after[r[3]] = by_after.get(r[3], 0) + 1

    def kv(k, v):
        print(k, v)

    kv("requests", len(rows))
    kv("ok", len(ok))
    kv("errors", len(err))
    kv("requests_after", len(after))
    kv("errors_after", len(err_after))
    kv("by_server", ",".join(f"{k}:{v}" for k, v in sorted(by.items())) or "-")
    kv("by_server_after", ",".join(f"{k}:{v}" for k, v in sorted(by_after.items())) or "-")
    kv("slowest_after_ms", "%.0f" % max(((r[1] - r[0]) * 1000 for r in after), default=0))
    kv("first_error", err[0][3] if err else "-")
    kv("first_error_after", err_after[0][3] if err_after else "-")
    kv("duration_s", "%.1f" % ((max(r[1] for r in rows) - rows[0][0]) if rows else 0))
    if t_down is not None:
        # Errors after the kill on requests in flight at the moment of DOWN:
        # what 'on-marked-down shutdown-sessions' cuts (also sessions that
        # were still retrying their connect to the dead server).
        at_down = [r for r in err_after if r[0] <= t_down + 0.002 and r[1] >= t_down - 0.002]
        kv("errors_at_down", len(at_down))
        kv("first_error_at_down", at_down[0][3] if at_down else "-")
        # Requests opened once the LB had marked the server DOWN.
        late = [r for r in rows if r[0] >= t_down]
        kv("requests_after_down", len(late))
        by_down = {}
        for r in late:
            if r[2] == "ok":
                by_down[r[3]] = by_down.get(r[3], 0) + 1
        kv("by_server_after_down", ",".join(f"{k}:{v}" for k, v in sorted(by_down.items())) or "-")
    # When each server first answered a connection opened after the kill
    # (for the database drill: when reads reached the backup).
    for who in sorted(by_after):
        first = min(r[1] for r in after if r[2] == "ok" and r[3] == who)
        kv("first_after_ms." + who, "%.0f" % ((first - t_dead) * 1000))


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "ports" and len(argv) == 3:
        free_ports(int(argv[2]))
    elif cmd == "probe-http" and len(argv) == 4:
        probe_http(parse_addr(argv[2]), int(argv[3]))
    elif cmd in ("http", "mysql") and len(argv) == 6:
        once = http_once if cmd == "http" else mysql_once
        load(once, parse_addr(argv[2]), float(argv[3]), int(argv[4]), argv[5])
    elif cmd == "summary" and len(argv) in (4, 5):
        summary(argv[2], float(argv[3]), float(argv[4]) if len(argv) == 5 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
