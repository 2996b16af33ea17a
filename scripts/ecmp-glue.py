#!/usr/bin/env python3
"""The ECMP lab's router glue (scripts/lab, LAB_MODE=ecmp).

BIRD installs what BGP learns for the VIP as a plain multipath route;
Linux spreads flows over such a route by hash-threshold, so when a load
balancer leaves or joins, flows of the others move too (each moved flow
reaches a node that has no socket for it: a reset). Resilient nexthop
groups (`ip nexthop ... type resilient`) move only the departed node's
flows, and a joining node takes only buckets idle for `idle_timer`; BIRD
does not install them. So BIRD exports into a table of its own (TABLE),
and this glue mirrors that route into the main table, either as a
resilient group (mode resilient) or as the same plain multipath route
(mode plain, to compare).

usage: ecmp-glue.py run STATE_DIR      follow TABLE, mirror into main (runs on the router)
       ecmp-glue.py nexthops           print the main table's forwarding for the VIP

run: reacts to `ip monitor route` events (no polling for routes); reads
its mode from STATE_DIR/ecmp-mode (resilient|plain, checked every 0.1 s)
and writes what it did, with times, to stdout.
nexthops: `mode resilient|plain balanced|unbalanced`, then `lbN BUCKETS`
(resilient) or `lbN -` (plain) for each load balancer in the route; exit 1
when the VIP has no route.
"""

import collections
import json
import os
import select
import subprocess
import sys
import time

VIP = "198.51.100.100"
TABLE = "100"
DEV = "eth0"
GROUP = "1"
BUCKETS = 512
IDLE_TIMER = 3
# lbN at 198.51.100.1N; its nexthop object is id 1N.
NODES = {f"198.51.100.1{i}": f"lb{i}" for i in range(1, 5)}
NHID = {addr: f"1{addr[-1]}" for addr in NODES}
NAME_OF_NHID = {int(v): NODES[k] for k, v in NHID.items()}


def ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def ip_json(*args):
    out = ip("-j", *args, check=False).strip()
    try:
        return json.loads(out) if out else []
    except json.JSONDecodeError:
        return []


def learnt():
    """The gateways BIRD installed for the VIP in TABLE, sorted."""
    routes = ip_json("route", "show", "table", TABLE, f"{VIP}/32")
    gws = set()
    for r in routes:
        if "gateway" in r:
            gws.add(r["gateway"])
        for nh in r.get("nexthops", []):
            if "gateway" in nh:
                gws.add(nh["gateway"])
    return sorted(g for g in gws if g in NODES)


def apply(mode, gws, created):
    """Makes the main table's VIP route `mode` over `gws`."""
    if not gws:
        ip("route", "del", f"{VIP}/32", check=False)
        ip("nexthop", "del", "id", GROUP, check=False)
        return
    if mode == "plain":
        hops = []
        for g in gws:
            hops += ["nexthop", "via", g, "dev", DEV]
        ip("route", "replace", f"{VIP}/32", *hops)
        ip("nexthop", "del", "id", GROUP, check=False)
        return
    for g in gws:
        if g not in created:
            ip("nexthop", "replace", "id", NHID[g], "via", g, "dev", DEV)
            created.add(g)
    group = "/".join(NHID[g] for g in gws)
    ip("nexthop", "replace", "id", GROUP, "group", group, "type", "resilient",
       "buckets", str(BUCKETS), "idle_timer", str(IDLE_TIMER), "unbalanced_timer", "0")
    ip("route", "replace", f"{VIP}/32", "nhid", GROUP)


def read_mode(state):
    try:
        with open(os.path.join(state, "ecmp-mode")) as f:
            m = f.read().strip()
    except OSError:
        m = "resilient"
    return m if m in ("resilient", "plain") else "resilient"


def run(state):
    mon = subprocess.Popen(["ip", "-o", "monitor", "route"], stdout=subprocess.PIPE,
                           text=True, bufsize=1)
    current = (None, None)
    created = set()  # the nexthop objects made so far
    while True:
        mode = read_mode(state)
        gws = learnt()
        if (mode, gws) != current:
            t = time.monotonic()
            try:
                apply(mode, gws, created)
                current = (mode, gws)
                names = " ".join(NODES[g] for g in gws) or "(none)"
                took = (time.monotonic() - t) * 1000
                print(f"{time.time():.3f} {mode}: {names} (applied in {took:.1f} ms)", flush=True)
            except RuntimeError as e:
                print(f"{time.time():.3f} error: {e}", flush=True)
        # A route event (any table) or 0.1 s for a mode switch.
        ready, _, _ = select.select([mon.stdout], [], [], 0.1)
        if ready:
            if not mon.stdout.readline():
                sys.exit("ip monitor ended")


def nexthops():
    routes = ip_json("route", "show", f"{VIP}/32")
    if not routes:
        print("mode none unbalanced")
        return 1
    r = routes[0]
    if "nhid" in r:
        buckets = ip_json("nexthop", "bucket", "show", "id", str(r["nhid"]))
        count = collections.Counter(b["bucket"]["nhid"] for b in buckets)
        n = len(count)
        lo, hi = BUCKETS // n, -(-BUCKETS // n)
        members = [m["id"] for g in ip_json("nexthop", "show", "id", str(r["nhid"]))
                   for m in g.get("group", [])]
        balanced = set(members) == set(count) and all(lo <= c <= hi for c in count.values())
        print(f"mode resilient {'balanced' if balanced else 'unbalanced'}")
        for nhid in sorted(count):
            print(f"{NAME_OF_NHID.get(nhid, nhid)} {count[nhid]}")
        return 0
    gws = [nh["gateway"] for nh in r.get("nexthops", []) if "gateway" in nh]
    if "gateway" in r:
        gws.append(r["gateway"])
    print("mode plain balanced")
    for g in sorted(gws):
        print(f"{NODES.get(g, g)} -")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "run":
        run(argv[2])
        return 0
    if len(argv) == 2 and argv[1] == "nexthops":
        return nexthops()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
