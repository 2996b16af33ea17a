#!/usr/bin/env python3
"""Helpers for scripts/bench (no third-party modules).

  idle PID LISTEN CONNECT N [--echo]
      Memory per idle session of the proxy PID. Reads its VmRSS, listens on
      LISTEN (the proxy's backend server), opens N connections to CONNECT (the
      proxy's frontend), waits until the backend has accepted all N (so the
      proxy holds N complete sessions), optionally sends 64 bytes each way
      through every session, lets the proxy settle, reads VmRSS again and
      prints one TSV line: before_kib after_kib n bytes_per_session
      fds_before fds_after.

  iperf FILE...
      Sum of the receiver's bits/s of iperf3 -J outputs, in Gbit/s; "nan" if
      any run failed.

  wrk FILE
      "REQS_PER_S ERRORS" from wrk's text output (errors = socket errors +
      non-2xx/3xx responses).

  wrk-count FILE
      How many requests the wrk run completed.

  raw RESULTS [--per-conn]
      Every run's value, one line per metric and variant; with --per-conn,
      each followed by the proxy's CPU µs per connection of that run.

  table RESULTS [CORES]
      Medians of the TSV lines "variant metric rep value cpu_pct" written by
      scripts/bench, as the markdown tables BENCHMARKS.md shows: rates,
      paced latency, and the proxy's CPU per unit of work (µs per
      connection or request, CPU-seconds per GB), computed run by run.
      CORES: what the proxy ran on, for the CPU table's caption.

  latency FILE
      "P50_US P99_US REQUESTS FAILED" from an h2load --log-file (one line
      per request: start µs, status, µs to the end of the response).

  scaling-table RESULTS
      The table of `scripts/bench --threads`: per thread count, rates of
      direct, haproxy and splicer, splicer / haproxy, and each proxy's
      scaling efficiency rate(N) / (N * rate(1)).

  syscalls-table RESULTS
      The table of `scripts/bench --syscalls` from lines "variant config
      mode rep syscalls segments clock_gettime connections cpu_ns".

  blocklist FILE N
      Writes N IPv4 blocklist entries for `src -f` (addresses, /32s and
      networks from /8 to /25), always the same ones, none holding 127.0.0.1.

  rules-table RESULTS
      The tables of `scripts/bench --rules` from the same TSV lines:
      connections/s, proxy CPU and proxy CPU per connection, rules against
      no rules and splicer against HAProxy.
  table-fill PID SOCKET N NAME
      Stores N `type ip` entries in table `http` with `set table` on the
      stats socket (one connection in `prompt` mode), then prints "NAME N
      KIB_BEFORE KIB_AFTER" (the process's RSS).
  tables-table RESULTS MEMORY
      The tables of `scripts/bench --tables`: as rules-table, and memory
      per entry from table-fill's lines.
  tls-table RESULTS VARIANT...
      The tables of `scripts/bench --tls`: rates, proxy CPU per handshake
      and per GB beside the load generator's own, echo latency alone and
      during a handshake flood, RSS per idle TLS session; one column per
      VARIANT, and each against haproxy.
"""

import ipaddress
import json
import math
import os
import re
import resource
import selectors
import socket
import statistics
import sys
import time

ECHO = b"x" * 64
SETTLE_S = 1.0
DEADLINE_S = 30.0


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def idle(argv):
    pid, listen, connect, n = int(argv[0]), addr(argv[1]), addr(argv[2]), int(argv[3])
    echo = "--echo" in argv[4:]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 2 * n + 256)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < 2 * n + 64:
        sys.exit(f"bench-helper: open-files limit {hard} too low for {n} sessions")

    time.sleep(SETTLE_S)
    before, fds_before = vmrss_kib(pid), fd_count(pid)

    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(listen)
    lsock.listen(4096)
    lsock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ)

    clients, servers = [], []
    deadline = time.monotonic() + DEADLINE_S

    def accept_ready(timeout):
        for _key, _ in sel.select(timeout):
            while True:
                try:
                    s, _ = lsock.accept()
                except BlockingIOError:
                    break
                servers.append(s)

    # Connect in batches so neither the proxy's accept queue nor ours overflows.
    while len(clients) < n:
        for _ in range(min(200, n - len(clients))):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(connect)
            clients.append(c)
        accept_ready(0.01)
    while len(servers) < n:
        if time.monotonic() > deadline:
            sys.exit(f"bench-helper: only {len(servers)} of {n} sessions reached the backend")
        accept_ready(0.1)
    for c in clients:
        err = c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            sys.exit(f"bench-helper: a client connection failed: {os.strerror(err)}")

    if echo:
        for s in clients + servers:
            s.setblocking(True)
            s.settimeout(DEADLINE_S)
        for c in clients:
            c.sendall(ECHO)
        for s in servers:
            got = b""
            while len(got) < len(ECHO):
                got += s.recv(len(ECHO) - len(got))
            s.sendall(got)
        for c in clients:
            got = b""
            while len(got) < len(ECHO):
                chunk = c.recv(len(ECHO) - len(got))
                if not chunk:
                    sys.exit("bench-helper: a session closed during the echo")
                got += chunk

    time.sleep(SETTLE_S)
    after, fds_after = vmrss_kib(pid), fd_count(pid)
    per = (after - before) * 1024 / n
    print(f"{before}\t{after}\t{n}\t{per:.0f}\t{fds_before}\t{fds_after}")
    for s in clients + servers:
        s.close()
    lsock.close()


def iperf(files):
    total = 0.0
    for name in files:
        try:
            with open(name) as f:
                data = json.load(f)
            total += data["end"]["sum_received"]["bits_per_second"]
        except (OSError, ValueError, KeyError):
            print("nan")
            return
    print(f"{total / 1e9:.3f}")


def wrk_count(name):
    """Requests (connections, with `Connection: close`) a wrk run completed."""
    with open(name) as f:
        m = re.search(r"(\d+) requests in", f.read())
    print(m.group(1) if m else 0)


def wrk(name):
    with open(name) as f:
        text = f.read()
    m = re.search(r"Requests/sec:\s*([0-9.]+)", text)
    errors = 0
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if se:
        errors += sum(int(x) for x in se.groups())
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if bad:
        errors += int(bad.group(1))
    print(f"{m.group(1) if m else 'nan'}\t{errors}")


# (key, label, unit format, higher is better)
METRICS = [
    ("iperf1", "iperf3, 1 stream (Gbit/s)", "{:.2f}"),
    ("iperf4", "iperf3, 4 streams (Gbit/s, sum)", "{:.2f}"),
    ("wrk_ka", "wrk keep-alive (req/s)", "{:,.0f}"),
    ("wrk_close", "wrk `Connection: close` (conn/s)", "{:,.0f}"),
    ("lat_p50", "paced keep-alive requests, p50 (µs)", "{:,.0f}"),
    ("lat_p99", "paced keep-alive requests, p99 (µs)", "{:,.0f}"),
    ("rss_idle", "RSS per idle session, no data (bytes)", "{:,.0f}"),
    ("rss_echo", "RSS per idle session, after 64 B each way (bytes)", "{:,.0f}"),
]
# The proxy's CPU per unit of work, from a run's rate and CPU %:
# (metric, label, format, CPU % and rate -> value).
PER_UNIT = [
    ("iperf1", "iperf3, 1 stream: CPU-seconds per GB", "{:.3f}",
     lambda c, r: c / 100 / (r / 8)),
    ("iperf4", "iperf3, 4 streams: CPU-seconds per GB", "{:.3f}",
     lambda c, r: c / 100 / (r / 8)),
    ("wrk_ka", "keep-alive: µs per request", "{:.2f}", lambda c, r: c / 100 * 1e6 / r),
    ("wrk_close", "`Connection: close`: µs per connection", "{:.2f}",
     lambda c, r: c / 100 * 1e6 / r),
]
MAIN = ["direct", "haproxy", "splicer"]
EXTRA = ["haproxy-nosplice", "splicer-splice"]


def table(argv):
    rows = {}
    cpu = {}
    unit = {}
    reps = 0
    per_unit = {m: f for m, _, _, f in PER_UNIT}
    with open(argv[0]) as f:
        for line in f:
            variant, metric, rep, value, cpu_pct = line.rstrip("\n").split("\t")
            v = float(value)
            reps = max(reps, int(rep))
            if not math.isnan(v):
                rows.setdefault((variant, metric), []).append(v)
            if cpu_pct not in ("", "-"):
                cpu.setdefault((variant, metric), []).append(float(cpu_pct))
                if metric in per_unit and v > 0:
                    unit.setdefault((variant, metric), []).append(per_unit[metric](float(cpu_pct), v))
    cores = argv[1] if len(argv) > 1 else "the machine's cores, shared with the load"

    def med(d, key):
        vals = d.get(key)
        return statistics.median(vals) if vals else None

    def cell(fmt, v):
        return "—" if v is None else fmt.format(v)

    out = []
    out.append("| | direct | haproxy (splice) | splicer (auto) | splicer / haproxy "
               "| haproxy (no splice) | splicer (splice forced) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for key, label, fmt in METRICS:
        vals = {v: med(rows, (v, key)) for v in MAIN + EXTRA}
        h, s = vals["haproxy"], vals["splicer"]
        ratio = "—" if not h or s is None else f"{s / h:.2f}"
        cells = [cell(fmt, vals[v]) for v in MAIN] + [ratio] + [cell(fmt, vals[v]) for v in EXTRA]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
        if key.startswith("lat_") and vals["direct"] is not None:
            # What the proxy adds: its percentile minus the direct run's.
            d = vals["direct"]
            add = {v: None if vals[v] is None else vals[v] - d for v in MAIN + EXTRA}
            h, s = add["haproxy"], add["splicer"]
            ratio = "—" if not h or s is None or h <= 0 else f"{s / h:.2f}"
            cells = ["—"] + [cell(fmt, add[v]) for v in MAIN[1:]] + [ratio]
            cells += [cell(fmt, add[v]) for v in EXTRA]
            out.append(f"| {label.replace('paced', 'added to paced')} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(f"Proxy CPU per unit of work (its utime + stime over the run divided by the work done; "
               f"median of the runs; lower is better; proxy on {cores}):")
    out.append("")
    out.append("| | haproxy (splice) | splicer (auto) | splicer / haproxy "
               "| haproxy (no splice) | splicer (splice forced) |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for key, label, fmt, _ in PER_UNIT:
        vals = {v: med(unit, (v, key)) for v in ["haproxy", "splicer"] + EXTRA}
        h, s = vals["haproxy"], vals["splicer"]
        ratio = "—" if not h or s is None else f"{s / h:.2f}"
        cells = [cell(fmt, vals["haproxy"]), cell(fmt, vals["splicer"]), ratio]
        cells += [cell(fmt, vals[v]) for v in EXTRA]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Proxy CPU during the load runs (median, % of one core):")
    out.append("")
    out.append("| | haproxy (splice) | splicer (auto) | haproxy (no splice) | splicer (splice forced) |")
    out.append("|---|---:|---:|---:|---:|")
    for key, label, _ in METRICS[:6]:
        label = label.split(" (")[0]
        cells = [cell("{:.0f}%", med(cpu, (v, key))) for v in ["haproxy", "splicer"] + EXTRA]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(f"Medians of {reps} run(s) each.")
    print("\n".join(out))


def latency(name):
    """p50 and p99 of h2load's per-request log (µs), nearest rank."""
    times, failed = [], 0
    with open(name) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            if parts[1] != "200":
                failed += 1
                continue
            times.append(int(parts[2]))
    if not times:
        print(f"nan\tnan\t0\t{failed}")
        return
    times.sort()

    def rank(p):
        return times[min(len(times) - 1, max(0, math.ceil(p * len(times)) - 1))]
    print(f"{rank(0.50)}\t{rank(0.99)}\t{len(times)}\t{failed}")


def scaling_table(argv):
    """Rates per thread count, splicer against HAProxy, and efficiency."""
    rows = {}
    with open(argv[0]) as f:
        for line in f:
            variant, metric, _rep, value, _cpu = line.rstrip("\n").split("\t")
            v = float(value)
            if not math.isnan(v):
                rows.setdefault((variant, metric), []).append(v)

    def med(v, m):
        vals = rows.get((v, m))
        return statistics.median(vals) if vals else None

    threads = sorted({int(m.split("@")[1]) for (_, m) in rows})
    out = ["| threads | load | direct | haproxy | splicer | splicer / haproxy "
           "| haproxy efficiency | splicer efficiency |",
           "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for load, label in [("ka", "keep-alive req/s"), ("close", "`Connection: close` conn/s")]:
        base = {v: med(v, f"{load}@{threads[0]}") for v in ("haproxy", "splicer")}
        for n in threads:
            m = f"{load}@{n}"
            d, h, s = med("direct", m), med("haproxy", m), med("splicer", m)

            def c(x):
                return "—" if x is None else f"{x:,.0f}"

            def eff(v, x):
                b = base[v]
                return "—" if not b or x is None else f"{x / (n / threads[0] * b):.2f}"
            ratio = "—" if not h or s is None else f"{s / h:.2f}"
            out.append(f"| {n} | {label} | {c(d)} | {c(h)} | {c(s)} | {ratio} | {eff('haproxy', h)} "
                       f"| {eff('splicer', s)} |")
    print("\n".join(out))


def syscalls_table(argv):
    """Per short connection: syscalls, segments, proxy CPU, by mode."""
    rows = [line.split() for line in open(argv[0])]

    def med(v, cfg, mode, f):
        vals = [f(r) for r in rows if r[0] == v and r[1] == cfg and r[2] == mode and int(r[7]) > 0]
        vals = [x for x in vals if x is not None]
        return statistics.median(vals) if vals else None

    def calls(r):
        return int(r[4]) / int(r[7])

    def calls_noclock(r):
        return (int(r[4]) - int(r[6])) / int(r[7])

    def segs(r):
        return int(r[5]) / int(r[7])

    def cpu(r):
        # Only the concurrent runs measure it (strace slows the others).
        return int(r[8]) / 1e3 / int(r[7]) if int(r[8]) > 0 else None

    def c(x, fmt="{:.1f}"):
        return "—" if x is None else fmt.format(x)

    cfgs = sorted({r[1] for r in rows}, key=lambda x: (x != "plain", x))
    out = ["| per short connection | mode | options | splicer | HAProxy 2.6 | splicer / HAProxy | direct |",
           "|---|---|---|---:|---:|---:|---:|"]
    for mode, mlabel in [("seq", "one at a time"), ("conc", "50 concurrent")]:
        for cfg in cfgs:
            for label, f, with_direct in [("proxy syscalls", calls, False),
                                          ("proxy syscalls without clock_gettime", calls_noclock, False),
                                          ("TCP segments, all hosts", segs, True),
                                          ("proxy CPU, µs", cpu, False)]:
                s, h = med("splicer", cfg, mode, f), med("haproxy", cfg, mode, f)
                if s is None and h is None:
                    continue
                d = med("direct", "plain", mode, f) if with_direct else None
                ratio = "—" if not h or s is None else f"{s / h:.2f}"
                out.append(f"| {label} | {mlabel} | {cfg} | {c(s)} | {c(h)} | {ratio} | {c(d)} |")
    print("\n".join(out))


def raw(argv):
    """Every run's value, per metric and variant, to show the spread."""
    per_conn = "--per-conn" in argv[1:]
    tls = "--tls" in argv[1:]
    runs = {}
    with open(argv[0]) as f:
        for line in f:
            variant, metric, _rep, value, cpu = line.rstrip("\n").split("\t")
            if tls and cpu not in ("", "-") and float(value) > 0:
                value += f" ({tls_per_unit(metric, float(value), float(cpu)):.1f} {tls_unit(metric)})"
            if per_conn and cpu not in ("", "-") and float(value) > 0:
                value += f" ({float(cpu) / 100 * 1e6 / float(value):.1f} µs)"
            runs.setdefault((metric, variant), []).append(value)
    for (metric, variant), values in runs.items():
        print(f"{metric:{18 if tls else 10}} {variant:17} {'  '.join(values)}")


def blocklist(argv):
    """Mostly single addresses in 10/8 (bare or /32, as lists from the wild
    have them), one entry in ten a /24 in 172.16/12, and a few entries near
    127.0.0.1 so that a prefix lookup for it goes deep before it fails."""
    name, n = argv[0], int(argv[1])
    near = ["127.0.0.2", "127.0.0.128/25", "127.0.1.0/24", "127.1.0.0/16",
            "127.128.0.0/9", "126.0.0.0/8"]
    entries = list(near)
    for i in range(n - len(near)):
        if i % 10 == 0:
            k = i // 10
            entries.append(f"172.{16 + k % 16}.{k // 16 % 256}.0/24")
        else:
            j = i * 7919 % (1 << 24)  # an odd factor: all distinct below 2**24
            ip = f"10.{j >> 16}.{j >> 8 & 255}.{j & 255}"
            entries.append(ip if i % 3 else ip + "/32")
    me = ipaddress.ip_address("127.0.0.1")
    assert not any(me in ipaddress.ip_network(e) for e in entries)
    assert len(set(entries)) == n
    with open(name, "w") as f:
        f.write("# written by scripts/bench --rules\n")
        f.write("\n".join(entries) + "\n")


def table_fill(argv):
    pid, path, n, name = int(argv[0]), argv[1], int(argv[2]), argv[3]
    before = vmrss_kib(pid)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b"prompt\n")
    # Answers are read as they come so neither side's buffer fills.
    sel = selectors.DefaultSelector()
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    out = b"".join(
        b"set table http key 10.%d.%d.%d data.gpc0 1\n" % (i >> 16, (i >> 8) & 255, i & 255)
        for i in range(n)
    ) + b"quit\n"
    sent = 0
    deadline = time.time() + 600
    while time.time() < deadline:
        for key, ev in sel.select(1.0):
            if ev & selectors.EVENT_READ:
                try:
                    if not s.recv(1 << 16):
                        sent = -1
                except BlockingIOError:
                    pass
            if ev & selectors.EVENT_WRITE and 0 <= sent < len(out):
                try:
                    sent += s.send(out[sent:sent + (1 << 16)])
                except BlockingIOError:
                    pass
                if sent >= len(out):
                    sel.modify(s, selectors.EVENT_READ)
        if sent < 0:
            break
    s.close()
    # The process may still be storing the last lines: wait for the count.
    used = 0
    for _ in range(600):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)
        c.sendall(b"show table\n")
        text = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            text += b
        c.close()
        m = re.search(rb"used:(\d+)", text)
        used = int(m.group(1)) if m else 0
        if used >= n:
            break
        time.sleep(0.1)
    print(name, used, before, vmrss_kib(pid), sep="\t")


def rules_table(argv, loads=None):
    """Connections/s, and the proxy's CPU per connection (its CPU % over the
    run divided by the run's connections/s), median of the repetitions; a
    rules/no-rules ratio is the median of each repetition's ratio, as the two
    runs of a repetition are next to each other in time."""
    runs = {}  # (variant, metric) -> {rep: (conn_s, cpu_pct or None)}
    reps = 0
    with open(argv[0]) as f:
        for line in f:
            variant, metric, rep, value, cpu_pct = line.rstrip("\n").split("\t")
            v = float(value)
            reps = max(reps, int(rep))
            if math.isnan(v) or v <= 0:
                continue
            cpu = None if cpu_pct in ("", "-") else float(cpu_pct)
            runs.setdefault((variant, metric), {})[int(rep)] = (v, cpu)

    def rate(v, m):
        vals = [r for r, _ in runs.get((v, m), {}).values()]
        return statistics.median(vals) if vals else None

    def cpu_pct(v, m):
        vals = [c for _, c in runs.get((v, m), {}).values() if c is not None]
        return statistics.median(vals) if vals else None

    def us_per_conn(v, m):
        vals = [c / 100 * 1e6 / r for r, c in runs.get((v, m), {}).values() if c is not None]
        return statistics.median(vals) if vals else None

    def paired(v, m1, m2, f):
        a, b = runs.get((v, m1), {}), runs.get((v, m2), {})
        vals = [f(a[k], b[k]) for k in a.keys() & b.keys()]
        vals = [x for x in vals if x is not None]
        return statistics.median(vals) if vals else None

    def conn_ratio(v, m1, m2):
        return paired(v, m1, m2, lambda a, b: a[0] / b[0])

    def us_delta(v, m1, m2):
        def f(a, b):
            if a[1] is None or b[1] is None:
                return None
            return a[1] / 100 * 1e6 / a[0] - b[1] / 100 * 1e6 / b[0]
        return paired(v, m1, m2, f)

    def c(fmt, v):
        return "—" if v is None else fmt.format(v)

    def div(a, b):
        return None if a is None or not b else a / b

    loads = loads or [
        ("plain", "HTTP, no rules"),
        ("rules", "HTTP, 10 rules + 10,000-entry `src -f` blocklist"),
        (("rules", "plain"), "rules / no rules"),
        ("tls", "TLS, no rules"),
        ("sni", "TLS, SNI routing (`req.ssl_sni`)"),
        (("sni", "tls"), "SNI routing / no rules"),
    ]
    out = ["| wrk `Connection: close` (conn/s) | direct | haproxy | splicer | splicer / haproxy |",
           "|---|---:|---:|---:|---:|"]
    for key, label in loads:
        if isinstance(key, tuple):
            h, s = conn_ratio("haproxy", *key), conn_ratio("splicer", *key)
            out.append(f"| *{label}* | | *{c('{:.3f}', h)}* | *{c('{:.3f}', s)}* | |")
            continue
        d = rate("direct", key) if key in ("plain", "tls") else None
        h, s = rate("haproxy", key), rate("splicer", key)
        cells = [c("{:,.0f}", d), c("{:,.0f}", h), c("{:,.0f}", s), c("{:.2f}", div(s, h))]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += ["",
            "Proxy CPU (utime + stime of all its threads over the run; % of one core, "
            "and µs per connection = CPU % / conn/s):",
            "",
            "| | haproxy CPU | haproxy µs/conn | splicer CPU | splicer µs/conn "
            "| splicer / haproxy µs/conn |",
            "|---|---:|---:|---:|---:|---:|"]
    for key, label in loads:
        if isinstance(key, tuple):
            h, s = us_delta("haproxy", *key), us_delta("splicer", *key)
            hb, sb = us_per_conn("haproxy", key[1]), us_per_conn("splicer", key[1])
            hp = c("{:+.1f} %", None if h is None or not hb else 100 * h / hb)
            sp = c("{:+.1f} %", None if s is None or not sb else 100 * s / sb)
            out.append(f"| *{label.split(' / ')[0]}: added µs/conn* | | *{c('{:+.2f}', h)} ({hp})* "
                       f"| | *{c('{:+.2f}', s)} ({sp})* | |")
            continue
        h, s = us_per_conn("haproxy", key), us_per_conn("splicer", key)
        cells = [c("{:.0f}%", cpu_pct("haproxy", key)), c("{:.2f}", h),
                 c("{:.0f}%", cpu_pct("splicer", key)), c("{:.2f}", s), c("{:.2f}", div(s, h))]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += ["", f"Medians of {reps} run(s) each; ratios and added µs are medians of "
            "each repetition's pair."]
    print("\n".join(out))


def tables_table(argv):
    rules_table(argv[:1], [
        ("plain", "HTTP, no rules"),
        ("tables", "HTTP, `track-sc0 src` + a rate-limit rule"),
        (("tables", "plain"), "tracking / no rules"),
    ])
    rows = [line.split("\t") for line in open(argv[1]) if line.strip()]
    print("\n| 1,000,000 `type ip` entries (conn_rate, conn_cur, gpc0) | entries | RSS added | bytes per entry |")
    print("|---|---:|---:|---:|")
    per = {}
    for name, used, before, after in rows:
        added = (int(after) - int(before)) * 1024
        per[name] = added / max(int(used), 1)
        print(f"| {name} | {int(used):,} | {added / 2**20:,.0f} MiB | {per[name]:.0f} |")
    if "splicer" in per and "haproxy" in per:
        print(f"| *splicer / haproxy* | | | *{per['splicer'] / per['haproxy']:.2f}* |")


# (key, label, value format); the key's prefix says the unit.
TLS_RATES = [
    ("hs_ecdsa13", "full handshakes/s, ECDSA P-256, TLS 1.3", "{:,.0f}"),
    ("hs_ecdsa12", "full handshakes/s, ECDSA P-256, TLS 1.2", "{:,.0f}"),
    ("hs_rsa13", "full handshakes/s, RSA-2048, TLS 1.3", "{:,.0f}"),
    ("hs_rsa12", "full handshakes/s, RSA-2048, TLS 1.2", "{:,.0f}"),
    ("res_ticket13", "resumed handshakes/s, TLS 1.3 ticket", "{:,.0f}"),
    ("res_ticket12", "resumed handshakes/s, TLS 1.2 ticket", "{:,.0f}"),
    ("res_sessid12", "resumed handshakes/s, TLS 1.2 session id", "{:,.0f}"),
    ("bulk_up1", "bulk up, 1 session (Gbit/s)", "{:.2f}"),
    ("bulk_up4", "bulk up, 4 sessions (Gbit/s)", "{:.2f}"),
    ("bulk_down1", "bulk down, 1 session (Gbit/s)", "{:.2f}"),
    ("bulk_down4", "bulk down, 4 sessions (Gbit/s)", "{:.2f}"),
]


def tls_unit(metric):
    return "ms/GB" if metric.startswith("bulk") else "µs/hs"


def tls_per_unit(metric, value, cpu_pct):
    """Proxy CPU per unit of work: µs per handshake, or core-ms per GB of
    plaintext (value in Gbit/s)."""
    if metric.startswith("bulk"):
        return cpu_pct / 100 * 1e3 / (value / 8)
    return cpu_pct / 100 * 1e6 / value


def tls_table(argv):
    variants = argv[1:] or ["haproxy", "splicer"]
    # haproxy first: every other column is compared with it.
    variants = sorted(variants, key=lambda v: v != "haproxy")
    others = [v for v in variants if v != "haproxy"] if "haproxy" in variants else []
    vals, cpu, unit = {}, {}, {}
    reps = 0
    with open(argv[0]) as f:
        for line in f:
            variant, metric, rep, value, cpu_pct = line.rstrip("\n").split("\t")
            reps = max(reps, int(rep))
            v = float(value)
            if math.isnan(v):
                continue
            vals.setdefault((variant, metric), []).append(v)
            if cpu_pct not in ("", "-") and v > 0:
                cpu.setdefault((variant, metric), []).append(float(cpu_pct))
                unit.setdefault((variant, metric), []).append(tls_per_unit(metric, v, float(cpu_pct)))

    def med(d, key):
        xs = d.get(key)
        return statistics.median(xs) if xs else None

    def c(fmt, x):
        return "—" if x is None else fmt.format(x)

    def ratio(a, b):
        return "—" if a is None or not b else f"{a / b:.2f}"

    out = ["| TLS terminated by the proxy | " + " | ".join(variants + [f"{v} / haproxy" for v in others]) + " |",
           "|---|" + "---:|" * (len(variants) + len(others))]
    rows = TLS_RATES + [("rss_tls", "RSS per idle TLS session (bytes)", "{:,.0f}")]
    for key, label, fmt in rows:
        m = {v: med(vals, (v, key)) for v in variants}
        cells = [c(fmt, m[v]) for v in variants] + [ratio(m[v], m["haproxy"]) for v in others]
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    out += ["", "Proxy CPU (utime + stime of its threads over the run, % of one core) and per unit "
            "of work: µs per handshake, core-ms per GB of plaintext; tlsload is the load "
            "generator's own cost per unit (all its runs), to show it is the cheaper side:", ""]
    head = "| |"
    for v in variants:
        head += f" {v} CPU | {v} per unit |"
    head += "".join(f" {v} / haproxy per unit |" for v in others) + " tlsload per unit |"
    out += [head, "|---|" + "---:|" * (2 * len(variants) + len(others) + 1)]
    for key, label, _ in TLS_RATES + [("flood", "full RSA-2048 TLS 1.3 flood (latency run)", "")]:
        label = label.split(" (")[0] + f" ({tls_unit(key)})"
        cells = []
        for v in variants:
            cells += [c("{:.0f}%", med(cpu, (v, key))), c("{:.1f}", med(unit, (v, key)))]
        cells += [ratio(med(unit, (v, key)), med(unit, ("haproxy", key))) for v in others]
        client = [x for v in variants for x in vals.get((v, key + "_client"), [])]
        scale = 1e3 if key.startswith("bulk") else 1  # tlsload prints s/GB and µs/hs
        cells.append(c("{:.1f}", statistics.median(client) * scale if client else None))
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    flood = {v: med(vals, (v, "flood")) for v in variants}
    out += ["", "Echo round trip (64 bytes) on 8 established sessions, one ping each per "
            "10 ms, µs; alone, then while tlsload floods the RSA bind with full TLS 1.3 "
            "handshakes (32 in flight; the rate reached in brackets):", "",
            "| | " + " | ".join(f"{v} p50 | {v} p99" for v in variants) + " |",
            "|---|" + "---:|" * (2 * len(variants))]
    for when, label in [("base", "alone"), ("flood", "during the handshake flood")]:
        cells = []
        for v in variants:
            cells += [c("{:,.0f}", med(vals, (v, f"lat_{when}_p50"))),
                      c("{:,.0f}", med(vals, (v, f"lat_{when}_p99")))]
        if when == "flood":
            label += " (" + ", ".join(f"{v} {c('{:,.0f}', flood[v])} hs/s" for v in variants) + ")"
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += ["", f"Medians of {reps} run(s) each."]
    print("\n".join(out))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "raw":
        raw(argv)
    elif cmd == "idle":
        idle(argv)
    elif cmd == "iperf":
        iperf(argv)
    elif cmd == "wrk":
        wrk(argv[0])
    elif cmd == "wrk-count":
        wrk_count(argv[0])
    elif cmd == "table":
        table(argv)
    elif cmd == "latency":
        latency(argv[0])
    elif cmd == "scaling-table":
        scaling_table(argv)
    elif cmd == "syscalls-table":
        syscalls_table(argv)
    elif cmd == "blocklist":
        blocklist(argv)
    elif cmd == "rules-table":
        rules_table(argv)
    elif cmd == "tables-table":
        tables_table(argv)
    elif cmd == "tls-table":
        tls_table(argv)
    elif cmd == "table-fill":
        table_fill(argv)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
