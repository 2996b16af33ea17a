# shellcheck shell=bash
# The active-active drills of scripts/drill (sourced by it): each builds
# the lab in its ECMP mode (LAB_MODE=ecmp: N splicer nodes announcing the
# VIP over BGP, a router spreading flows over them; scripts/lab-ecmp.sh),
# loads it from the client with scripts/ecmp-client.py — new connections
# (one GET each, 100 a second) and 60 long-lived keep-alive sessions (a
# GET every 0.2 s), each found on its node through `show sess` — breaks
# or changes one node, and prints what the clients saw. Root only.

ECMP_CLIENT=$ROOT/scripts/ecmp-client.py
ECMP_SECONDS=6        # the client's load, from the moment its sessions are open
ECMP_FAULT_AFTER=1.5  # seconds of load before the fault
ECMP_KILL_WINDOW_MS=300
ECMP_LINK_WINDOW_MS=500
ECMP_IDLE_TIMER_S=3   # the router's resilient group (scripts/ecmp-glue.py)
ECMP_JOIN_S=$((ECMP_IDLE_TIMER_S + 2))  # a joining node's first new connection, after it enters the route
ECMP_REJOIN_S=10      # a node back (cable plugged, undrain): in the route within this
ECMP_SPREAD_COUNT=3000
ECMP_SPREAD_POINTS=5  # each node's share within 1/N +- this many percentage points

# ecmp_prepare N: the ECMP lab with N nodes started, resilient groups.
ecmp_prepare() {
    [ "$LB" = splicer ] || { echo "drill $NAME: the ECMP lab runs splicer only (DRILL_LB=$LB)" >&2; exit 2; }
    export LAB_MODE=ecmp LAB_LBS=$1 LAB_ECMP=resilient
    require birdc:bird2
    lab_prepare splicer
    say "$(lab nexthops | paste -sd ';' | sed 's/;/; /g') [router: ECMP over $1 nodes]"
}

# ecmp_load OUT [SECONDS]: the client's load in the background (for
# ECMP_SECONDS unless told), returns once its sessions are open and found
# (or the client gave up).
ecmp_load() {
    rm -f "$TMP/ready"
    on client python3 "$ECMP_CLIENT" run "$TMP/lab" "$1" --sessions 60 --rate 100 \
        --seconds "${2:-$ECMP_SECONDS}" --ready "$TMP/ready" >"$TMP/client.log" 2>&1 &
    ECMP_CLIENT_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [ -s "$TMP/ready" ] && break
        kill -0 "$ECMP_CLIENT_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -s "$TMP/ready" ] || { cat "$TMP/client.log" >&2; die "the client's sessions did not open"; }
    sleep "$ECMP_FAULT_AFTER"
}

ecmp_wait_load() {
    wait "$ECMP_CLIENT_PID" || { cat "$TMP/client.log" >&2; die "the client failed"; }
}

# The frontend web's sessions since start (stot) on node $1; 0 when down.
ecmp_stot() {
    python3 "$LAB_HELPER" stat "$TMP/lab/$1/admin.sock" web FRONTEND stot 2>/dev/null || echo 0
}

ecmp_report() { python3 "$ECMP_CLIENT" report "$@"; }

# ecmp_ms FROM TO: milliseconds between two EPOCHREALTIME stamps.
ecmp_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

# ecmp_route_moved T0 NODE: when the router's main table stopped sending
# flows to NODE, from the glue's log (it stamps each change it applies).
ecmp_route_moved() {
    local ms
    ms=$(awk -v t0="$1" -v n="$2" '$1 >= t0 && $2 ~ /^(resilient|plain):$/ {
            found = 0; for (i = 3; i <= NF && $i != "(applied"; i++) if ($i == n) found = 1
            if (!found) { printf "%d", ($1 - t0) * 1000; exit } }' "$TMP/lab/router/glue.log")
    [ -n "$ms" ] && ms="$ms ms after the fault" || ms="not seen"
    printf '  %-40s %s\n' "router's route without $2" "$ms"
}

# ecmp_until ARG SECS AWK: waits up to SECS until AWK (run on `lab
# nexthops` with n=ARG) exits 0; ECMP_WAITED_MS says how long it took.
# Returns 1 when it never did.
ecmp_until() {
    local t0=$EPOCHREALTIME end=$((SECONDS + $2))
    while :; do
        if lab nexthops 2>/dev/null | awk -v n="$1" "$3"; then
            ECMP_WAITED_MS=$(ecmp_ms "$t0" "$EPOCHREALTIME")
            return 0
        fi
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
}

# ecmp_balanced N [SECS]: waits up to SECS (default 20) until the router
# spreads over N nodes, balanced.
ecmp_balanced() {
    ecmp_until "$1" "${2:-20}" 'NR == 1 { b = ($3 == "balanced") } END { exit !(b && NR - 1 == n) }'
}

# ecmp_listed NODE [SECS]: waits up to SECS (default 20) until the
# router's route lists NODE.
ecmp_listed() {
    ecmp_until "$1" "${2:-20}" 'NR > 1 && $1 == n { f = 1 } END { exit !f }'
}

# Waits until the router spreads over N nodes, balanced; the drill stops
# when it does not within 20 s.
ecmp_wait_balanced() {
    ecmp_balanced "$1" ||
        die "the router's route is not balanced over $1 nodes after 20 s: $(lab nexthops | paste -sd ';')"
}

drill_ecmp_node_kill() {
    local failures=() t
    ecmp_prepare 3
    say "1. resilient nexthop group: kill -9 lb2's splicer under load"
    ecmp_load "$TMP/resilient.json"
    t=$EPOCHREALTIME
    kill -KILL "$(cat "$TMP/lab/lb2/splicer.pid")"
    ecmp_wait_load
    ecmp_route_moved "$t" lb2
    say "  router after the kill: $(lab nexthops | paste -sd ';' | sed 's/;/; /g')"
    ecmp_report "$TMP/resilient.json" --fault "$t" --victim lb2 --window-ms "$ECMP_KILL_WINDOW_MS" \
        --survivors-broken-max 0 || failures+=("resilient: a target missed (above)")
    lab start lb2 >/dev/null || die "lb2 did not come back"
    ecmp_wait_balanced 3
    say "2. plain ECMP (hash-threshold), for comparison: kill -9 lb1's splicer under load"
    say "   (which node leaves decides how many flows of the others move: the first or last"
    say "   node's range is split among its neighbours, moving half of one neighbour's flows)"
    lab ecmp plain >/dev/null
    ecmp_load "$TMP/plain.json"
    t=$EPOCHREALTIME
    kill -KILL "$(cat "$TMP/lab/lb1/splicer.pid")"
    ecmp_wait_load
    ecmp_route_moved "$t" lb1
    ecmp_report "$TMP/plain.json" --fault "$t" --victim lb1 --window-ms "$ECMP_KILL_WINDOW_MS" \
        --survivors-broken-max 0 --informational
    lab_verdict "${failures[@]}"
}

drill_ecmp_linkdown() {
    local failures=() t
    ecmp_prepare 3
    say "lb3's cable pulled under load (BFD 100 ms x 3 withdraws it)"
    ecmp_load "$TMP/linkdown.json"
    t=$EPOCHREALTIME
    lab link lb3 down
    ecmp_wait_load
    ecmp_route_moved "$t" lb3
    say "  router after the fault: $(lab nexthops | paste -sd ';' | sed 's/;/; /g')"
    ecmp_report "$TMP/linkdown.json" --fault "$t" --victim lb3 --window-ms "$ECMP_LINK_WINDOW_MS" \
        --survivors-broken-max 0 || failures+=("a target missed (above)")
    lab link lb3 up
    if ecmp_listed lb3 "$ECMP_REJOIN_S"; then
        printf '  %-40s %s\n' "lb3 back in the router's route" "$ECMP_WAITED_MS ms after its cable was plugged in (BGP and BFD up again; target ${ECMP_REJOIN_S} s)"
    else
        failures+=("lb3 not back in the router's route ${ECMP_REJOIN_S} s after its cable was plugged in: $(lab nexthops | paste -sd ';')")
    fi
    lab_verdict "${failures[@]}"
}

drill_ecmp_add() {
    local failures=() t before after routed first="" end secs
    ecmp_prepare 3
    say "lb4 joins under load (resilient group: it takes only buckets idle for ${ECMP_IDLE_TIMER_S} s)"
    before=$(ecmp_stot lb4)
    # Long enough for lb4's start (about 1 s) and its target after it.
    secs=$((ECMP_SECONDS + 3))
    ecmp_load "$TMP/add.json" "$secs"
    t=$EPOCHREALTIME
    lab start lb4 >/dev/null || die "lb4 did not start"
    routed=$EPOCHREALTIME
    # When lb4 serves its first new connection: polled while the load runs,
    # up to its target.
    end=$((SECONDS + ECMP_JOIN_S + 1))
    while [ "$SECONDS" -lt "$end" ] && kill -0 "$ECMP_CLIENT_PID" 2>/dev/null; do
        [ "$(ecmp_stot lb4)" -gt "$before" ] && { first=$EPOCHREALTIME; break; }
        sleep 0.05
    done
    ecmp_wait_load
    after=$(ecmp_stot lb4)
    say "  router after the join: $(lab nexthops | paste -sd ';' | sed 's/;/; /g')"
    ecmp_report "$TMP/add.json" --fault "$t" --max-failed 0 --survivors-broken-max 0 ||
        failures+=("a target missed (above)")
    printf '  %-40s %s\n' "lb4 in the router's route" "$(ecmp_ms "$t" "$routed") ms after 'lab start lb4' (splicer up, checks passed, BGP)"
    if [ -n "$first" ]; then
        first=$(ecmp_ms "$routed" "$first")
        printf '  %-40s %s\n' "lb4's first new connection" \
            "$first ms after it entered the route (buckets idle >= ${ECMP_IDLE_TIMER_S} s move at once, busy ones later)"
    else
        printf '  %-40s %s\n' "lb4's first new connection" "none seen"
    fi
    printf '  %-40s %s\n' "  target" "<= $((ECMP_JOIN_S * 1000)) ms (idle_timer ${ECMP_IDLE_TIMER_S} s + 2 s): $([ -n "$first" ] && [ "$first" -le $((ECMP_JOIN_S * 1000)) ] && echo met || echo MISSED)"
    if [ -z "$first" ]; then
        failures+=("lb4 served no new connection within ${ECMP_JOIN_S} s of entering the route")
    elif [ "$first" -gt $((ECMP_JOIN_S * 1000)) ]; then
        failures+=("lb4's first new connection $first ms after it entered the route, over $((ECMP_JOIN_S * 1000)) ms")
    fi
    printf '  %-40s %s\n' "new connections served by lb4" "$((after - before)) in the $secs s of load $(awk -v r="$(cat "$TMP/ready")" -v s="$secs" -v t="$routed" -v n="$((after - before))" 'BEGIN {
            w = r + s - t; printf "(%.1f s of it with lb4 in the route: %.0f %% of the %d opened then; 1/4 is 25 %%)", w, 100 * n / (w * 100), w * 100 }')"
    lab_verdict "${failures[@]}"
}

drill_ecmp_drain() {
    local failures=() t
    ecmp_prepare 3
    say "planned drain of lb1 under load (graceful shutdown, then soft stop)"
    ecmp_load "$TMP/drain.json"
    t=$EPOCHREALTIME
    lab drain lb1 | sed 's/^/  /'
    ecmp_wait_load
    ecmp_route_moved "$t" lb1
    ecmp_report "$TMP/drain.json" --fault "$t" --victim lb1 --max-failed 0 --survivors-broken-max 0 ||
        failures+=("a target missed (above)")
    say "  (lb1's established connections are cut when the route moves: ECMP keeps no per-flow state)"
    t=$EPOCHREALTIME
    if lab undrain lb1 >/dev/null && ecmp_listed lb1 "$ECMP_REJOIN_S"; then
        printf '  %-40s %s\n' "lb1 back in the router's route" "$(ecmp_ms "$t" "$EPOCHREALTIME") ms after 'lab undrain lb1' (a fresh splicer, checks passed, community off; target ${ECMP_REJOIN_S} s)"
    else
        failures+=("lb1 not back in the router's route ${ECMP_REJOIN_S} s after 'lab undrain lb1': $(lab nexthops | paste -sd ';')")
    fi
    lab_verdict "${failures[@]}"
}

drill_ecmp_spread() {
    local failures=() h n=3 before=() after=() total=0 d out share dev
    ecmp_prepare "$n"
    ecmp_wait_balanced "$n"
    for h in lb1 lb2 lb3; do before+=("$(ecmp_stot "$h")"); done
    out=$(on client python3 "$ECMP_CLIENT" spread "$ECMP_SPREAD_COUNT" --parallel 20)
    for h in lb1 lb2 lb3; do after+=("$(ecmp_stot "$h")"); done
    say "  $ECMP_SPREAD_COUNT new connections from client: $out"
    for i in 0 1 2; do total=$((total + after[i] - before[i])); done
    [ "$total" -gt 0 ] || die "no connection counted"
    for i in 0 1 2; do
        d=$((after[i] - before[i]))
        share=$(awk -v d="$d" -v t="$total" 'BEGIN { printf "%.1f", 100 * d / t }')
        dev=$(awk -v s="$share" -v n="$n" 'BEGIN { printf "%+.1f", s - 100 / n }')
        printf '  %-6s %5d connections  %5s %%  (1/N %+5s points; %+.1f %% of 1/N)\n' "lb$((i + 1))" "$d" "$share" \
            "$dev" "$(awk -v s="$share" -v n="$n" 'BEGIN { print (s - 100 / n) / (100 / n) * 100 }')"
        awk -v v="$dev" -v m="$ECMP_SPREAD_POINTS" 'BEGIN { exit !(v <= m && v >= -m) }' ||
            failures+=("lb$((i + 1)): share $share % is more than $ECMP_SPREAD_POINTS points from 1/N")
    done
    printf '  target: each share within 1/N +- %s percentage points\n' "$ECMP_SPREAD_POINTS"
    # The client's counts, shared through peers: every node holds the
    # client's entry and they agree. The peers protocol carries each node's
    # value, which the others take in place of theirs (HAProxy 2.6 too), so
    # increments made at once on two nodes overwrite each other: the shared
    # count is between one node's share and the total (printed; README).
    local rates i
    for ((i = 0; i < 40; i++)); do
        rates=$(for h in lb1 lb2 lb3; do
            python3 "$LAB_HELPER" cli "$TMP/lab/$h/admin.sock" "show table web key 203.0.113.2" |
                sed -n 's/.*conn_rate(10000)=\([0-9]*\).*/\1/p'
        done | paste -sd ' ')
        [ "$(wc -w <<<"$rates")" = 3 ] && [ "$(tr ' ' '\n' <<<"$rates" | sort -u | wc -l)" = 1 ] && break
        sleep 0.05
    done
    printf '  %-40s %s\n' "the client's conn_rate(10s) on lb1-3" "$rates (of $total through all nodes: shared, not summed)"
    [ "$(wc -w <<<"$rates")" = 3 ] && [ "$(tr ' ' '\n' <<<"$rates" | sort -u | wc -l)" = 1 ] ||
        failures+=("the nodes' stick tables do not agree on the client's count: $rates")
    grep -q ' failed 0$' <<<"$out" || failures+=("connections failed: $out")
    lab_verdict "${failures[@]}"
}
