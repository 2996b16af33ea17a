#!/usr/bin/env python3
"""Clients and arithmetic for scripts/drill (standard library only).

    ports N                         N distinct free TCP ports on 127.0.0.1
    probe-http ADDR N               N GETs; prints the servers that answered
    http ADDR SECONDS THREADS OUT   HTTP/1.0 GETs, one connection each
    mysql ADDR SECONDS THREADS OUT  `mariadb -e 'SELECT @@server_id'`, one connection each
    summary OUT T_DEAD [T_DOWN]     counts from OUT as "key value" lines
    paced KIND ADDR SECONDS OUT     one attempt every PACED_INTERVAL, each in a thread
                                    of its own (KIND insert, select or page); rows in OUT
    paced-summary OUT ACKED T_FAULT [T_MARK [T_END]]  the paced rows' figures
                                    as "key value" lines; the acknowledged attempts
                                    to ACKED
    moved OUT SINCE WHO [UNTIL]     when the paced answers moved to WHO after SINCE

ADDR is PORT (on 127.0.0.1) or HOST:PORT. mysql logs in as DRILL_DB_USER
(default app; the mariadb client takes a password from MYSQL_PWD) and runs
DRILL_SQL instead when set; its answer, tabs as ':', names who answered.
The http and mysql loops also stop once the file DRILL_STOP_FILE exists.
Every request is one line of OUT: start (epoch seconds, taken just before
connecting), end, "ok" or "err", and who answered (web1..web3, or a MariaDB
server_id) or the error. The loops are bounded: SECONDS of wall time,
MAX_REQUESTS requests, REQUEST_TIMEOUT per request.

paced: attempts leave every PACED_INTERVAL whatever the earlier ones are
doing (at most PACED_IN_FLIGHT at once; one that would pass it is recorded
as skipped), so a stuck attempt never hides the moment service comes back.
Each attempt has its own number N (1, 2, ...):
    insert  `SELECT @@report_host; INSERT INTO foobar.visits (note) VALUES
            ('DRILL_TAG N')` through the mariadb client, one connection each:
            ok means the INSERT was acknowledged (the client's last statement
            succeeded), by the server named first
    select  `SELECT @@report_host`, one connection each
    page    GET /visit.php (HTTP/1.0, Host www.foobar.com): ok on status 200;
            what = the page's write and read servers ("db1/db2"), or the
            status and its error line
Rows: start, end (epoch seconds), ok|err|skip, N, what (the server, or the
error). The mariadb client waits PACED_CONNECT_TIMEOUT for the server's
greeting (longer than conf/foobar.cfg's 'timeout queue 5s': a connection
held in the load balancer's queue during a failover is splicer's doing,
not the client's); every attempt ends within PACED_TIMEOUT (killed).
"""

import os
import socket
import subprocess
import sys
import threading
import time

MAX_REQUESTS = 100_000
PACED_INTERVAL = 0.05
PACED_IN_FLIGHT = 64
PACED_CONNECT_TIMEOUT = 10
PACED_TIMEOUT = 15.0
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


def mysql_client(addr, sql, user, connect_timeout):
    """The mariadb client through ADDR, as an application's one-off
    connection: (return code, stdout, last line of stderr)."""
    p = subprocess.run(
        ["mariadb", "--no-defaults", f"-h{addr[0]}", f"-P{addr[1]}", f"-u{user}",
         f"--connect-timeout={connect_timeout}", "-N", "-B", "-e", sql],
        capture_output=True, text=True, timeout=PACED_TIMEOUT)
    err = p.stderr.strip().splitlines()
    return p.returncode, p.stdout.strip(), err[-1] if err else f"exit {p.returncode}"


def page_once(addr):
    """GET /visit.php: (ok, "WRITE/READ" or the status and error)."""
    with socket.create_connection(addr, timeout=PACED_TIMEOUT) as s:
        s.settimeout(PACED_TIMEOUT)
        s.sendall(b"GET /visit.php HTTP/1.0\r\nHost: www.foobar.com\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        raise OSError("connection closed without a response")
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    fields = {}
    for line in body.decode("utf-8", "replace").splitlines():
        k, _, v = line.partition(": ")
        fields[k] = v
    if " 200 " not in status + " ":
        return False, f"{status.split(' ', 1)[-1]}: {fields.get('error', '?')}"
    return True, f"{fields.get('write', '?')}/{fields.get('read', '?')}"


def paced(kind, addr, seconds, out):
    user = os.environ.get("DRILL_DB_USER", "app")
    tag = os.environ.get("DRILL_TAG", "drill")
    stop = os.environ.get("DRILL_STOP_FILE")
    lock = threading.Lock()
    rows = []
    in_flight = [0]

    def attempt(n, start):
        try:
            if kind == "page":
                ok, what = page_once(addr)
            else:
                sql = "SELECT @@report_host"
                if kind == "insert":
                    sql += f"; INSERT INTO foobar.visits (note) VALUES ('{tag} {n}')"
                rc, answer, err = mysql_client(addr, sql, user, PACED_CONNECT_TIMEOUT)
                ok, what = (True, answer.splitlines()[0] if answer else "?") if rc == 0 else (False, err)
        except subprocess.TimeoutExpired:
            ok, what = False, f"no answer within {PACED_TIMEOUT:.0f} s (killed)"
        except OSError as e:
            ok, what = False, str(e) or type(e).__name__
        what = what.replace("\t", " ").replace("\n", " ")
        with lock:
            rows.append((start, time.time(), "ok" if ok else "err", n, what))
            in_flight[0] -= 1

    t0 = time.time()
    deadline = t0 + seconds
    threads = []
    n = 0
    while n < MAX_REQUESTS:
        now = time.time()
        if now >= deadline or (stop and os.path.exists(stop)):
            break
        n += 1
        with lock:
            full = in_flight[0] >= PACED_IN_FLIGHT
            if full:
                rows.append((now, now, "skip", n, f"{PACED_IN_FLIGHT} attempts in flight"))
            else:
                in_flight[0] += 1
        if not full:
            t = threading.Thread(target=attempt, args=(n, now))
            t.start()
            threads.append(t)
        next_start = t0 + n * PACED_INTERVAL
        time.sleep(max(0.0, next_start - time.time()))
    for t in threads:
        t.join()
    with open(out, "w") as f:
        for r in sorted(rows):
            f.write("%.6f\t%.6f\t%s\t%d\t%s\n" % r)


def read_paced(out):
    rows = []
    with open(out) as f:
        for line in f:
            start, end, ok, n, what = line.rstrip("\n").split("\t", 4)
            rows.append((float(start), float(end), ok, int(n), what))
    return rows


def counted(values):
    """"3x a | 1x b", most frequent first; "-" for none."""
    n = {}
    for v in values:
        n[v] = n.get(v, 0) + 1
    return " | ".join(f"{c}x {v}" for v, c in sorted(n.items(), key=lambda e: (-e[1], e[0]))) or "-"


def by_who(rows):
    n = {}
    for r in rows:
        n[r[4]] = n.get(r[4], 0) + 1
    return ",".join(f"{k}:{v}" for k, v in sorted(n.items())) or "none"


def paced_summary(out, acked_file, t_fault, t_mark=None, t_end=None):
    """Figures of a paced run around a fault at T_FAULT; T_MARK (the end
    of the failover) splits what came after; attempts started at or after
    T_END are left out. The acknowledged attempts go to ACKED_FILE as
    "N who" lines."""
    rows = [r for r in read_paced(out) if t_end is None or r[0] < t_end]
    ok = [r for r in rows if r[2] == "ok"]
    err = [r for r in rows if r[2] == "err"]
    with open(acked_file, "w") as f:
        for r in ok:
            f.write(f"{r[3]} {r[4]}\n")

    def kv(k, v):
        print(k, v)

    kv("attempts", len(rows))
    kv("ok", len(ok))
    kv("errors", len(err))
    kv("skipped", sum(1 for r in rows if r[2] == "skip"))
    kv("ok_before", by_who([r for r in ok if r[1] < t_fault]))
    kv("errors_before", sum(1 for r in err if r[1] < t_fault))
    after = [r for r in rows if r[1] >= t_fault]
    kv("attempts_after", len(after))
    kv("errors_after", sum(1 for r in after if r[2] == "err"))
    kv("ok_by", by_who(ok))
    kv("error_kinds", counted(r[4] for r in after if r[2] == "err"))
    # The outage as the clients saw it: the longest time between two
    # acknowledgements (their completions), among the gaps that end after
    # the fault, or from the last one to the end of the run.
    acks = sorted(r[1] for r in ok)
    run_end = max((r[1] for r in rows), default=t_fault)
    gaps = [(a, b) for a, b in zip(acks, acks[1:]) if b >= t_fault]
    if acks and acks[-1] >= t_fault:
        gaps.append((acks[-1], run_end))
    elif not any(a >= t_fault for a in acks):
        gaps.append((max([a for a in acks if a < t_fault], default=t_fault), run_end))
    a, b = max(gaps, key=lambda g: g[1] - g[0], default=(t_fault, t_fault))
    kv("gap_ms", "%.0f" % ((b - a) * 1000))
    kv("gap_from", "%+.3f" % (a - t_fault))
    kv("gap_to", "%+.3f" % (b - t_fault))
    # Service came back: an attempt started after the fault was acknowledged.
    kv("recovered", "yes" if any(r[0] >= t_fault for r in ok) else "no")
    base = [y - x for x, y in zip(acks, acks[1:]) if y < t_fault]
    kv("baseline_gap_ms", "%.0f" % (max(base, default=0) * 1000))
    first = min((r for r in ok if r[1] >= t_fault and r[0] >= t_fault), key=lambda r: r[1], default=None)
    kv("first_ok_after", "%s at %+.3f s" % (first[4], first[1] - t_fault) if first else "none")
    lat = sorted((r[1] - r[0]) * 1000 for r in ok)
    kv("latency_ms_p50", "%.0f" % (lat[len(lat) // 2] if lat else 0))
    kv("latency_ms_max", "%.0f" % (lat[-1] if lat else 0))
    # The slowest of those the fault could touch (done after it).
    slow = max((r for r in ok if r[1] >= t_fault), key=lambda r: r[1] - r[0], default=None)
    kv("slowest", "%.0f ms (from %+.3f s, %s)" % ((slow[1] - slow[0]) * 1000, slow[0] - t_fault, slow[4]) if slow else "-")
    if t_mark is not None:
        late = [r for r in ok if r[1] >= t_mark]
        kv("ok_ended_after_mark", by_who(late))
        kv("ok_started_after_mark", by_who([r for r in late if r[0] >= t_mark]))
        kv("errors_started_after_mark", sum(1 for r in err if r[0] >= t_mark))


def moved(out, since, who, until=None):
    """When answers moved to WHO after SINCE: "ms_first_other_last" and
    "ms_moved" (the first attempt started after SINCE from which on every
    answered attempt before UNTIL came from WHO), relative to SINCE."""
    rows = [r for r in read_paced(out) if r[0] >= since and (until is None or r[0] < until)]
    ok = [r for r in rows if r[2] == "ok"]
    other = [r for r in ok if r[4] != who]
    last_other = max((r[0] for r in other), default=None)
    mine = [r for r in ok if r[4] == who and (last_other is None or r[0] > last_other)]
    print("answered", by_who(ok))
    print("errors", sum(1 for r in rows if r[2] == "err"))
    print("first_error", next((r[4] for r in rows if r[2] == "err"), "-"))
    print("last_other_ms", "%.0f" % ((last_other - since) * 1000) if last_other is not None else "none")
    print("moved_ms", "%.0f" % ((min(r[0] for r in mine) - since) * 1000) if mine else "never")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "ports" and len(argv) == 3:
        free_ports(int(argv[2]))
    elif cmd == "probe-http" and len(argv) == 4:
        probe_http(parse_addr(argv[2]), int(argv[3]))
    elif cmd in ("http", "mysql") and len(argv) == 6:
        once = http_once if cmd == "http" else mysql_once
        load(once, parse_addr(argv[2]), float(argv[3]), int(argv[4]), argv[5])
    elif cmd == "paced" and len(argv) == 6 and argv[2] in ("insert", "select", "page"):
        paced(argv[2], parse_addr(argv[3]), float(argv[4]), argv[5])
    elif cmd == "paced-summary" and len(argv) in (5, 6, 7):
        paced_summary(argv[2], argv[3], *map(float, argv[4:]))
    elif cmd == "moved" and len(argv) in (5, 6):
        moved(argv[2], float(argv[3]), argv[4], float(argv[5]) if len(argv) == 6 else None)
    elif cmd == "summary" and len(argv) in (4, 5):
        summary(argv[2], float(argv[3]), float(argv[4]) if len(argv) == 5 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
