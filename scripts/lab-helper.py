#!/usr/bin/env python3
"""Pieces of scripts/lab and its drills (standard library only).

    gap ADDR SECONDS OUT [STOP]  a GET to HOST:PORT every 10 ms for SECONDS at
                                 most, or until the file STOP exists; rows in OUT
    https-gap URL CA ADDR SECONDS OUT [STOP]  the same over HTTPS with curl: a
                                 new curl (a new connection, a full handshake)
                                 every 25 ms to URL at ADDR (--resolve),
                                 trusting CA; rows in OUT as gap's
    gap-summary OUT T0 [T1 ...]  the longest gap without service per phase
                                 (phase i from Ti to Ti+1), "key value" lines
    flood ADDR SECONDS OUT [STOP]  one source opening connections to ADDR as
                                 fast as it can (FLOOD_IN_FLIGHT at once, a GET
                                 on each) for SECONDS at most, or until STOP
                                 exists; rows in OUT
    flood-summary OUT T0 [T1 ...]  per phase: connections served, refused
                                 (reset or closed unanswered), failed
    log-time LOG SINCE TEXT      epoch time of splicer's first log line at or
                                 after SINCE that contains TEXT
    health-events LOG T0         splicer's "Server ... is UP|DOWN" lines, at
                                 their time relative to T0
    show-stat SOCKET             'show stat' from a stats socket, as a table
    servers SOCKET BACKEND       BACKEND's servers from 'show stat': "name status
                                 addr" lines (addr "-" while it has none)
    stat SOCKET PROXY NAME FIELD one field of 'show stat' (NAME: a server,
                                 FRONTEND or BACKEND), e.g. web FRONTEND dcon
    dns SERVER NAME [TYPE]       one UDP query (TYPE A, the default, or SRV) to
                                 the name server SERVER (port 53): "rcode X"
                                 then one line per answer record
    cli SOCKET COMMAND [TIMEOUT]  one runtime API command; prints the answer
                                 (waited for TIMEOUT seconds, default 2)
    vip-events LOG HOST VIP      lines of `ip -ts -o monitor address` about VIP
                                 as "EPOCH HOST adds|removes the VIP"
    mysql-events LOG T0          splicer's mysql-cluster lines and its mysql-*
                                 backends' "Server ... is UP|DOWN" lines, at their
                                 time relative to T0
    mon-ready PROM N SECONDS     waits (SECONDS at most) until Prometheus (URL)
                                 scrapes N targets (0: those it has, at least
                                 one), all up, and mysql_up, nginx_up and
                                 probe_success are 1 everywhere; exit 1 saying
                                 what is not
    query PROM EXPR              an instant query: "labels value" lines
    alerts AM                    the alerts Alertmanager (URL) holds, a line each
    alert-spans PROM T0 T1       when each alert fired between epoch times T0 and
                                 T1, as Prometheus recorded it (ALERTS, a point
                                 a second): "FROM TO NAME LABELS" lines
    wait-alert AM SECONDS firing|gone NAME [LABEL=VALUE...]
                                 polls Alertmanager every 0.1 s for SECONDS at
                                 most until an alert NAME (*: any) with these
                                 labels is there (firing) or none is (gone); prints the
                                 epoch time it saw so and the alert's startsAt;
                                 exit 1 (printing the alerts) when it never did

gap: one thread, non-blocking sockets: a new connection to ADDR every
INTERVAL whatever the earlier ones are doing, each sending one GET and
waiting at most ATTEMPT_TIMEOUT for the page. A request sent while the VIP
is moving is never waited for: the next one leaves 10 ms later, so the
moment service comes back is seen within 10 ms. Bounded by SECONDS, by
SECONDS / INTERVAL attempts and by MAX_IN_FLIGHT open sockets.

Service is measured at the client, as a user sees it: the longest gap is
the longest time between two answered requests (their completions).

https-gap: the same pace-keeping over HTTPS, with curl as the client (the
tool a user has; --cacert, so every answer is a verified handshake). A
process per request costs more than a socket, hence 25 ms between starts;
each curl gives up after CURL_MAX_TIME, and at most CURL_MAX_IN_FLIGHT run
at once.
"""

import datetime
import errno
import json
import os
import random
import selectors
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request

INTERVAL = 0.010
ATTEMPT_TIMEOUT = 1.0
MAX_IN_FLIGHT = 400
REQUEST = b"GET / HTTP/1.0\r\nHost: www.foobar.com\r\n\r\n"
FLOOD_IN_FLIGHT = 64
CURL_INTERVAL = 0.025
CURL_MAX_TIME = 1.0
CURL_MAX_IN_FLIGHT = 60
FLOOD_MAX_ATTEMPTS = 200000


class Attempt:
    def __init__(self, addr, now):
        self.start = now
        self.data = b""
        self.sent = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        err = self.sock.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, errno.errorcode.get(err, str(err)))


def served_by(data):
    """The web server a page names ("served by web2"), or OSError."""
    head = data.split(b"\r\n", 1)[0].decode("latin-1")
    if " 200 " not in head + " ":
        raise OSError(f"status line {head!r}" if data else "closed without an answer")
    marker = b"served by "
    i = data.find(marker)
    if i < 0:
        raise OSError("page does not name its server")
    return data[i + len(marker):].split(b"<", 1)[0].decode().strip()


def expire(sel, finish):
    """Gives up the attempts that waited ATTEMPT_TIMEOUT for an answer."""
    now = time.time()
    for key in list(sel.get_map().values()):
        a = key.data
        if now - a.start > ATTEMPT_TIMEOUT:
            finish(a, "err", "no answer within %.1f s" % ATTEMPT_TIMEOUT)


def write_rows(out, rows):
    """(start, end, verdict, what) rows, in start order, tab-separated."""
    with open(out, "w") as f:
        for r in sorted(rows):
            f.write("%.6f\t%.6f\t%s\t%s\n" % r)


def gap(addr, seconds, out, stop=None):
    sel = selectors.DefaultSelector()
    rows = []
    t0 = time.time()
    end = t0 + seconds
    next_start = t0
    max_attempts = int(seconds / INTERVAL) + 1
    started = 0

    def finish(a, ok, who):
        sel.unregister(a.sock)
        a.sock.close()
        rows.append((a.start, time.time(), ok, who.replace("\t", " ").replace("\n", " ")))

    while True:
        now = time.time()
        if stop and now < end and started % 10 == 0 and os.path.exists(stop):
            end = now
        if now < end and started < max_attempts and now >= next_start:
            next_start += INTERVAL
            started += 1
            if len(sel.get_map()) < MAX_IN_FLIGHT:
                try:
                    a = Attempt(addr, now)
                    sel.register(a.sock, selectors.EVENT_WRITE, a)
                except OSError as e:
                    rows.append((now, time.time(), "err", str(e)))
            else:
                rows.append((now, now, "err", "too many requests in flight"))
            continue
        if now >= end and not sel.get_map():
            break
        timeout = max(0.0, next_start - now) if now < end else 0.05
        for key, _ in sel.select(timeout):
            a = key.data
            try:
                if not a.sent:
                    err = a.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        finish(a, "err", errno.errorcode.get(err, str(err)))
                        continue
                    a.sock.send(REQUEST)
                    a.sent = True
                    sel.modify(a.sock, selectors.EVENT_READ, a)
                    continue
                chunk = a.sock.recv(65536)
                if chunk:
                    a.data += chunk
                    continue
                finish(a, "ok", served_by(a.data))
            except OSError as e:
                finish(a, "err", str(e) or type(e).__name__)
        expire(sel, finish)
    write_rows(out, rows)


def https_gap(url, ca, addr, seconds, out, stop=None):
    """curl URL every CURL_INTERVAL, each a process of its own (a new
    connection, no session to resume); rows as gap's. The name in URL is
    sent as SNI and checked against the certificate; its address is ADDR."""
    host, _, rest = url.partition("://")[2].partition("/")[0].partition(":")
    port = rest or "443"
    cmd = ["curl", "-sS", "--max-time", "%g" % CURL_MAX_TIME, "--cacert", ca,
           "--resolve", f"{host}:{port}:{addr}", url]
    sel = selectors.DefaultSelector()
    rows = []
    t0 = time.time()
    end = t0 + seconds
    next_start = t0
    max_attempts = int(seconds / CURL_INTERVAL) + 1
    started = 0

    def finish(key):
        p, start, page = key.data
        sel.unregister(key.fileobj)
        rc = p.wait()
        err = p.stderr.read().decode(errors="replace").strip()
        now = time.time()
        p.stdout.close()
        p.stderr.close()
        if rc != 0:
            # curl's own line ("curl: (60) SSL certificate problem: ..."),
            # not the advice that may follow it.
            lines = [l for l in err.splitlines() if l.startswith("curl: (")] or [f"curl exit {rc}"]
            rows.append((start, now, "err", lines[0]))
            return
        marker = b"served by "
        i = page.find(marker)
        if i < 0:
            rows.append((start, now, "err", "page does not name its server"))
        else:
            rows.append((start, now, "ok", page[i + len(marker):].split(b"<", 1)[0].decode().strip()))

    while True:
        now = time.time()
        if stop and now < end and started % 10 == 0 and os.path.exists(stop):
            end = now
        if now < end and started < max_attempts and now >= next_start:
            next_start += CURL_INTERVAL
            started += 1
            if len(sel.get_map()) < CURL_MAX_IN_FLIGHT:
                # The end of its stdout is the end of curl: it exits then.
                p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, bufsize=0,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                sel.register(p.stdout, selectors.EVENT_READ, (p, now, bytearray()))
            else:
                rows.append((now, now, "err", "too many requests in flight"))
            continue
        if now >= end and not sel.get_map():
            break
        timeout = max(0.0, next_start - now) if now < end else 0.05
        for key, _ in sel.select(timeout):
            chunk = os.read(key.fd, 65536)
            if chunk:
                key.data[2].extend(chunk)
            else:
                finish(key)
        # curl's own --max-time bounds each; this only guards a stuck one.
        for key in list(sel.get_map().values()):
            if time.time() - key.data[1] > CURL_MAX_TIME + 2:
                key.data[0].kill()
                finish(key)
    write_rows(out, rows)


def flood(addr, seconds, out, stop=None):
    """Connections one after the other, FLOOD_IN_FLIGHT at a time: each
    row is (start, end, ok|refused|err, what)."""
    sel = selectors.DefaultSelector()
    rows = []
    end = time.time() + seconds
    started = 0

    def finish(a, verdict, what):
        sel.unregister(a.sock)
        a.sock.close()
        rows.append((a.start, time.time(), verdict, what.replace("\t", " ").replace("\n", " ")))

    while True:
        now = time.time()
        if stop and started % 50 == 0 and os.path.exists(stop):
            end = min(end, now)
        while now < end and started < FLOOD_MAX_ATTEMPTS and len(sel.get_map()) < FLOOD_IN_FLIGHT:
            started += 1
            try:
                a = Attempt(addr, now)
                sel.register(a.sock, selectors.EVENT_WRITE, a)
            except OSError as e:
                rows.append((now, now, "err", str(e)))
                break
        if not sel.get_map():
            if now >= end or started >= FLOOD_MAX_ATTEMPTS:
                break
            time.sleep(0.001)
            continue
        for key, _ in sel.select(0.05):
            a = key.data
            try:
                if not a.sent:
                    err = a.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        finish(a, "refused" if err == errno.ECONNRESET else "err",
                               errno.errorcode.get(err, str(err)))
                        continue
                    a.sock.send(REQUEST)
                    a.sent = True
                    sel.modify(a.sock, selectors.EVENT_READ, a)
                    continue
                chunk = a.sock.recv(65536)
                if chunk:
                    a.data += chunk
                    continue
                if not a.data:
                    finish(a, "refused", "closed unanswered")
                else:
                    finish(a, "ok", served_by(a.data))
            except ConnectionResetError:
                finish(a, "refused" if not a.data else "err", "reset")
            except OSError as e:
                finish(a, "err", str(e) or type(e).__name__)
        expire(sel, finish)
    write_rows(out, rows)


def flood_summary(out, marks):
    """'key value' lines per phase i (from marks[i] to marks[i+1]), by the
    time each connection started."""
    rows = []
    with open(out) as f:
        for line in f:
            start, end, verdict, what = line.rstrip("\n").split("\t", 3)
            rows.append((float(start), float(end), verdict, what))
    bounds = marks + [float("inf")]
    for i, t in enumerate(marks):
        mine = [r for r in rows if t <= r[0] < bounds[i + 1]]
        span = (max((r[1] for r in mine), default=t) - t) or 1e-9
        for verdict in ("ok", "refused", "err"):
            print(f"{verdict}.{i}", sum(1 for r in mine if r[2] == verdict))
        print(f"attempts.{i}", len(mine))
        print(f"rate.{i}", "%.0f" % (len(mine) / span))
        errs = [r[3] for r in mine if r[2] == "err"]
        print(f"first_error.{i}", errs[0] if errs else "-")


def summary(out, marks):
    """'key value' lines. marks: epoch times splitting the run into phases
    (phase i from marks[i] to marks[i+1], the last to the end); a gap
    belongs to the phase in which service came back (or would have)."""
    rows = []
    with open(out) as f:
        for line in f:
            start, end, ok, who = line.rstrip("\n").split("\t", 3)
            rows.append((float(start), float(end), ok, who))
    done = sorted(r[1] for r in rows if r[2] == "ok")
    errs = [r for r in rows if r[2] == "err"]
    run_end = max((r[1] for r in rows), default=0.0)
    print("attempts", len(rows))
    print("ok", len(done))
    print("errors", len(errs))
    print("first_error", errs[0][3] if errs else "-")
    # How long an answered request took, as its user waited.
    waits = sorted((r[1] - r[0]) * 1000 for r in rows if r[2] == "ok")
    for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
        v = waits[min(len(waits) - 1, int(q * len(waits)))] if waits else 0
        print(f"latency_ms_{name}", "%.1f" % v)
    # The gaps, each as (from, to): between answers, and from the last
    # answer to the end of the run.
    gaps = list(zip(done, done[1:]))
    if done:
        gaps.append((done[-1], run_end))
    before = [b - a for a, b in gaps if b < marks[0]]
    print("baseline_gap_ms", "%.0f" % (max(before, default=0) * 1000))
    bounds = marks + [float("inf")]
    for i, t in enumerate(marks):
        hi = bounds[i + 1]
        mine = [(a, b) for a, b in gaps if b > t and a < hi]
        a, b = max(mine, key=lambda g: g[1] - g[0], default=(t, t))
        print(f"gap_ms.{i}", "%.0f" % ((b - a) * 1000))
        print(f"gap_from.{i}", "%+.3f" % (a - t))
        print(f"gap_to.{i}", "%+.3f" % (b - t))
        print(f"recovered.{i}", "yes" if any(t < c < hi for c in done) else "no")
        print(f"errors.{i}", sum(1 for r in errs if t <= r[0] < hi))


def log_lines(log):
    """(epoch, line) of splicer's log: '[2026-11-21T12:27:43.271Z INFO  target] message'."""
    with open(log, errors="replace") as f:
        for line in f:
            stamp = line[1:].split(" ", 1)[0] if line.startswith("[") else ""
            try:
                t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
            except ValueError:
                continue
            yield t.replace(tzinfo=datetime.timezone.utc).timestamp(), line.rstrip("\n")


def log_time(log, since, text):
    for t, line in log_lines(log):
        if t >= since and text in line:
            print("%.6f" % t)
            return


def health_events(log, t0):
    for t, line in log_lines(log):
        i = line.find("Server ")
        if i >= 0 and (" is UP" in line or " is DOWN" in line):
            print("  %+7.3f s  %s" % (t - t0, line[line.rfind("] ", 0, i) + 2:]))


def cli(path, command, timeout=2.0):
    """One command on a stats socket (one request per connection)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(command.encode() + b"\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode()


def show_stat(path):
    """The rows of 'show stat' a person reads first."""
    try:
        lines = cli(path, "show stat").splitlines()
    except OSError as e:
        print(f"    (stats socket: {e})")
        return
    head = lines[0].lstrip("# ").split(",")
    col = {n: i for i, n in enumerate(head)}
    fmt = "    %-12s %-9s %-10s %5s %7s  %-6s %s"
    print(fmt % ("proxy", "server", "status", "cur", "total", "check", "addr"))
    for line in lines[1:]:
        f = line.split(",")
        if len(f) >= len(head):
            print(fmt % tuple(f[col[k]] for k in ("pxname", "svname", "status", "scur", "stot", "check_status", "addr")))


def servers(path, backend):
    """BACKEND's servers: name, status and address (from a template, the
    address the name servers gave it), one line each."""
    lines = cli(path, "show stat").splitlines()
    head = lines[0].lstrip("# ").split(",")
    col = {n: i for i, n in enumerate(head)}
    for line in lines[1:]:
        f = line.split(",")
        if len(f) < len(head) or f[col["pxname"]] != backend:
            continue
        if f[col["svname"]] in ("FRONTEND", "BACKEND"):
            continue
        print(f[col["svname"]], f[col["status"]].replace(" ", "_"), f[col["addr"]] or "-")


def stat(path, proxy, name, field):
    lines = cli(path, "show stat").splitlines()
    head = lines[0].lstrip("# ").split(",")
    col = {n: i for i, n in enumerate(head)}
    if field not in col:
        sys.exit(f"stat: no column {field!r} in show stat")
    for line in lines[1:]:
        f = line.split(",")
        if len(f) >= len(head) and f[col["pxname"]] == proxy and f[col["svname"]] == name:
            print(f[col[field]])
            return
    sys.exit(f"stat: no row {proxy}/{name} in show stat")


def dns_name(msg, pos):
    """A (possibly compressed) name at pos: (name, position after it)."""
    labels, end = [], None
    for _ in range(128):
        n = msg[pos]
        if n >= 0xC0:
            end = end or pos + 2
            pos = ((n & 0x3F) << 8) | msg[pos + 1]
            continue
        if n == 0:
            return ".".join(labels), end or pos + 1
        labels.append(msg[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    raise ValueError("name loop")


def dns(server, name, qtype="A"):
    """One query over UDP, as a resolver would send it (recursion desired)."""
    types = {"A": 1, "SRV": 33}
    qid = random.randrange(1 << 16)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", types[qtype], 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(q, (server, 53))
    msg = s.recv(4096)
    rid, flags, qd, an = struct.unpack(">HHHH", msg[:8])
    if rid != qid:
        sys.exit("dns: answer to another query")
    rcodes = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}
    print("rcode", rcodes.get(flags & 0xF, flags & 0xF))
    pos = 12
    for _ in range(qd):
        pos = dns_name(msg, pos)[1] + 4
    for _ in range(an):
        rname, pos = dns_name(msg, pos)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        rdata = msg[pos:pos + rdlen]
        if rtype == 1:
            print(rname, "A", socket.inet_ntoa(rdata))
        elif rtype == 33:
            prio, weight, port = struct.unpack(">HHH", rdata[:6])
            print(rname, "SRV", prio, weight, port, dns_name(msg, pos + 6)[0])
        else:
            print(rname, "type", rtype)
        pos += rdlen


def mysql_events(log, t0):
    for t, line in log_lines(log):
        i = line.find("] ")
        text = line[i + 2:] if i >= 0 else line
        if text.startswith("mysql-cluster ") or (
                text.startswith("Server mysql-") and (" is UP" in text or " is DOWN" in text)):
            print("  %+7.3f s  %s" % (t - t0, text))


def vip_events(log, host, vip):
    with open(log, errors="replace") as f:
        for line in f:
            if f" {vip}/" not in line or not line.startswith("["):
                continue
            stamp, rest = line[1:].split("] ", 1)
            t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").timestamp()  # local time
            what = "removes" if rest.startswith("Deleted") else "adds"
            print("%.6f %s %s the VIP" % (t, host, what))


def get_json(url, timeout=1.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def query(prom, expr):
    """[(labels, value)] of an instant query."""
    r = get_json(prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    return [(x["metric"], x["value"][1]) for x in r["data"]["result"]]


def mon_missing(prom, want):
    """What keeps the monitoring from being ready, or None."""
    try:
        targets = get_json(prom + "/api/v1/targets?state=active")["data"]["activeTargets"]
        down = ["%s/%s %s%s" % (t["labels"].get("job"), t["labels"].get("instance"), t["health"],
                                ": " + t["lastError"] if t.get("lastError") else "")
                for t in targets if t["health"] != "up"]
        if not targets or (want and len(targets) != want) or down:
            return "%d of %d targets up%s" % (len(targets) - len(down), want or len(targets),
                                               "; not up: " + ", ".join(down) if down else "")
        for expr in ("mysql_up", "nginx_up", "probe_success"):
            got = query(prom, expr)
            bad = [m.get("instance", "?") for m, v in got if v != "1"]
            if not got or bad:
                return "%s is not 1 for %s" % (expr, ", ".join(bad) or "any target (none scraped yet)")
    except (OSError, ValueError, KeyError) as e:
        return "Prometheus at %s: %s" % (prom, e)
    return None


def mon_ready(prom, want, seconds):
    """Polls every 0.1 s, SECONDS at most."""
    end = time.time() + seconds
    while True:
        missing = mon_missing(prom, want)
        if missing is None:
            return
        if time.time() > end:
            sys.exit(missing)
        time.sleep(0.1)


def active_alerts(am):
    return [a for a in get_json(am + "/api/v2/alerts") if a["status"]["state"] == "active"]


def alerts(am):
    """One line per alert: its name, summary and since when it fires."""
    try:
        got = active_alerts(am)
    except (OSError, ValueError) as e:
        sys.exit("Alertmanager at %s: %s" % (am, e))
    if not got:
        print("none firing")
    now = datetime.datetime.now(datetime.timezone.utc)
    for a in sorted(got, key=lambda a: (a["labels"]["alertname"], a["startsAt"])):
        since = datetime.datetime.fromisoformat(a["startsAt"][:26].rstrip("Z") + "+00:00")
        print("%-20s %s (since %s, %.0f s)" % (
            a["labels"]["alertname"], a["annotations"].get("summary", ""),
            since.astimezone().strftime("%H:%M:%S"), (now - since).total_seconds()))


def alert_spans(prom, t0, t1):
    q = urllib.parse.urlencode({"query": 'ALERTS{alertstate="firing"}', "start": t0, "end": t1, "step": 1})
    spans = []
    for series in get_json(prom + "/api/v1/query_range?" + q, timeout=5)["data"]["result"]:
        m = series["metric"]
        name = m.get("alertname", "?")
        labels = ",".join("%s=%s" % kv for kv in sorted(m.items())
                          if kv[0] not in ("__name__", "alertname", "alertstate", "severity"))
        start = prev = None
        for t, _ in series["values"]:
            if start is None:
                start = prev = t
            elif t - prev > 1.5:
                spans.append((start, prev, name, labels))
                start = t
            prev = t
        if start is not None:
            spans.append((start, prev, name, labels))
    for s in sorted(spans):
        print("%.3f %.3f %s %s" % s)


def wait_alert(am, seconds, want, name, labels):
    """Until an alert NAME with LABELS is active (want "firing") or none
    is (want "gone")."""
    match = dict(kv.split("=", 1) for kv in labels)
    if name != "*":
        match["alertname"] = name
    end = time.time() + seconds
    got = []
    while True:
        t = time.time()
        try:
            got = active_alerts(am)
        except (OSError, ValueError):
            got = None
        if got is not None:
            mine = [a for a in got if all(a["labels"].get(k) == v for k, v in match.items())]
            if (want == "firing") == bool(mine):
                print("%.6f %s" % (t, mine[0]["startsAt"] if mine else "-"))
                return
        if t > end:
            break
        time.sleep(0.1)
    print("never %s within %.0f s; alerts then:" % (want, seconds))
    for a in got or []:
        print("    %s %s" % (a["labels"]["alertname"], a["labels"]))
    sys.exit(1)


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "gap" and len(argv) in (5, 6):
        host, _, port = argv[2].rpartition(":")
        gap((host, int(port)), float(argv[3]), argv[4], argv[5] if len(argv) == 6 else None)
    elif cmd == "https-gap" and len(argv) in (7, 8):
        https_gap(argv[2], argv[3], argv[4], float(argv[5]), argv[6], argv[7] if len(argv) == 8 else None)
    elif cmd == "flood" and len(argv) in (5, 6):
        host, _, port = argv[2].rpartition(":")
        flood((host, int(port)), float(argv[3]), argv[4], argv[5] if len(argv) == 6 else None)
    elif cmd == "flood-summary" and len(argv) >= 4:
        flood_summary(argv[2], [float(t) for t in argv[3:]])
    elif cmd == "gap-summary" and len(argv) >= 4:
        summary(argv[2], [float(t) for t in argv[3:]])
    elif cmd == "log-time" and len(argv) == 5:
        log_time(argv[2], float(argv[3]), argv[4])
    elif cmd == "health-events" and len(argv) == 4:
        health_events(argv[2], float(argv[3]))
    elif cmd == "show-stat" and len(argv) == 3:
        show_stat(argv[2])
    elif cmd == "vip-events" and len(argv) == 5:
        vip_events(argv[2], argv[3], argv[4])
    elif cmd == "servers" and len(argv) == 4:
        servers(argv[2], argv[3])
    elif cmd == "stat" and len(argv) == 6:
        stat(*argv[2:])
    elif cmd == "dns" and len(argv) in (4, 5) and (len(argv) == 4 or argv[4] in ("A", "SRV")):
        dns(argv[2], argv[3], *argv[4:])
    elif cmd == "cli" and len(argv) in (4, 5):
        print(cli(argv[2], argv[3], *map(float, argv[4:])).rstrip("\n"))
    elif cmd == "mysql-events" and len(argv) == 4:
        mysql_events(argv[2], float(argv[3]))
    elif cmd == "mon-ready" and len(argv) == 5:
        mon_ready(argv[2], int(argv[3]), float(argv[4]))
    elif cmd == "query" and len(argv) == 4:
        for m, v in query(argv[2], argv[3]):
            print(",".join("%s=%s" % kv for kv in sorted(m.items())), v)
    elif cmd == "alert-spans" and len(argv) == 5:
        alert_spans(argv[2], float(argv[3]), float(argv[4]))
    elif cmd == "alerts" and len(argv) == 3:
        alerts(argv[2])
    elif cmd == "wait-alert" and len(argv) >= 6 and argv[4] in ("firing", "gone"):
        wait_alert(argv[2], float(argv[3]), argv[4], argv[5], argv[6:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
