# shellcheck shell=bash
# The lab's active-active mode (LAB_MODE=ecmp), sourced by scripts/lab:
# N load balancers, all serving, behind one VIP that each announces over
# BGP while its splicer is healthy, and a router that spreads the clients'
# flows over them with ECMP.
#
#   client 203.0.113.2, client2 .3 --- router .1 | 198.51.100.1 --- lb1..lb4 .11-.14
#                                                               \-- web1-3, db1-2, dns
#
# - router: BIRD 2 (AS 65000) with a BGP session and BFD (100 ms x 3) to
#   each of lb1..lb4, importing only the VIP /32 and merging the equal
#   paths into one multipath route (kernel `merge paths`) in table 100;
#   scripts/ecmp-glue.py mirrors that route into the main table as a
#   resilient nexthop group (LAB_ECMP=resilient, the default) or as the
#   same plain multipath route (LAB_ECMP=plain; `scripts/lab ecmp MODE`
#   switches at run time). fib_multipath_hash_policy=1: flows are hashed
#   on addresses and ports. Graceful shutdown (RFC 8326): a route with
#   community (65535,0) gets local-pref 0, so it leaves the multipath.
# - lbN: the VIP on lo (ARP for it never answered on eth0: arp_ignore=1,
#   arp_announce=2), splicer on conf/foobar.cfg plus $LAB_DIR/lbN/lbN.cfg
#   with an `announce` section instead of `vrrp`: splicer's tun device
#   splicer-vip has its carrier only while splicer is healthy (backend web
#   has a usable server, not stopping) and vanishes with the process;
#   BIRD (AS 65001) announces the VIP with a static route via that device
#   (`check link`), so the route goes when splicer does. Its export filter
#   adds (65535,0) while $LAB_DIR/lbN/drain.conf says DRAIN = 1.
# - web, db and dns hosts reach the client network and the VIP (the
#   application's database connections) through the router.
#
# LAB_LBS (2..4, default 3) of lb1..lb4 start at `up`; the others exist,
# idle, and join with `scripts/lab start lbN`. The router already has a
# BGP session configured for every one of them.

CLIENT_NET=203.0.113
ROUTER_AS=65000
LB_AS=65001
ALL_LBS=(lb1 lb2 lb3 lb4)
GLUE=$ROOT/scripts/ecmp-glue.py

# Called by scripts/lab once the mode is known: the hosts of this mode
# (ADDR is scripts/lab's associative array).
# shellcheck disable=SC2154
ecmp_hosts() {
    HOSTS=(client client2 router dns lb1 lb2 lb3 lb4 web1 web2 web3 db1 db2)
    ADDR[client]=$CLIENT_NET.2
    ADDR[client2]=$CLIENT_NET.3
}

# The load balancers to start at `up`.
ecmp_first_lbs() {
    local n=${LAB_LBS:-3}
    case "$n" in 2 | 3 | 4) ;; *) die "LAB_LBS must be 2, 3 or 4 (got '$n')" ;; esac
    echo "${ALL_LBS[@]:0:n}"
}

# The bridge of HOST's eth0: the clients are on a network of their own.
ecmp_bridge_of() {
    case "$LAB_MODE:$1" in ecmp:client | ecmp:client2) echo br1 ;; *) echo br0 ;; esac
}

# After make_network: the client network, the router's second leg, the
# VIP on each load balancer's lo, routes through the router.
ecmp_network() {
    local sw h r
    sw=$(ns sw)
    r=$(ns router)
    ip -n "$r" link add eth1 type veth peer name router-c netns "$sw"
    ip -n "$sw" link set router-c master br1 up
    ip -n "$r" addr add "$CLIENT_NET.1/24" dev eth1
    ip -n "$r" link set eth1 up
    in_ns router sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
    # No redirects: the web and db hosts reach the VIP through the router
    # on their own subnet, and must keep doing so (ECMP), not learn one lb.
    for k in all default eth0 eth1; do
        in_ns router sysctl -qw "net.ipv4.conf.$k.send_redirects=0" "net.ipv4.conf.$k.rp_filter=0"
    done
    in_ns client ip route add default via "$CLIENT_NET.1"
    in_ns client2 ip route add default via "$CLIENT_NET.1"
    for h in "${HOSTS[@]}"; do
        case "$h" in
            client | client2 | router) ;;
            lb*)
                in_ns "$h" ip addr add "$VIP/32" dev lo
                in_ns "$h" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
                    net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
                in_ns "$h" ip route add "$CLIENT_NET.0/24" via "${ADDR[router]}"
                ;;
            *)
                in_ns "$h" ip route add "$CLIENT_NET.0/24" via "${ADDR[router]}"
                in_ns "$h" ip route add "$VIP/32" via "${ADDR[router]}"
                ;;
        esac
    done
}

# --- BIRD ------------------------------------------------------------------
bird_ctl() { echo "$LAB_DIR/$1/bird.ctl"; }
birdc_on() { local h=$1; shift; birdc -s "$(bird_ctl "$h")" "$@"; }
bird_ready() { birdc_on "$1" show status >/dev/null 2>&1; }

# The BGP session settings of both ends: hold 3 s (BGP's minimum; BFD
# notices a dead link in 0.3 s), a retry every second, BFD.
bgp_timers() {
    cat <<'EOF'
    hold time 3;
    keepalive time 1;
    connect delay time 1;
    connect retry time 1;
    error wait time 1, 10;
    bfd on;
EOF
}

write_router_bird() {
    local d=$LAB_DIR/router lb
    mkdir -p "$d"
    {
        cat <<EOF
# The router of the ECMP lab (scripts/lab): BGP from every load balancer,
# only the VIP, equal paths merged into one multipath route in table 100
# (scripts/ecmp-glue.py mirrors it into the main table).
router id ${ADDR[router]};
log stderr all;
protocol device { scan time 10; }
protocol bfd {
    interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };
}
protocol kernel {
    kernel table 100;
    merge paths on;
    ipv4 { import none; export where net = $VIP/32; };
}
# RFC 8326: a load balancer being drained tags its route GRACEFUL_SHUTDOWN;
# at local-pref 0 it is no longer among the best paths, so no new flow
# goes to it while its BGP session stays up.
filter vip_in {
    if net != $VIP/32 then reject;
    if (65535, 0) ~ bgp_community then bgp_local_pref = 0;
    accept;
}
template bgp lb {
    local ${ADDR[router]} as $ROUTER_AS;
$(bgp_timers)
    ipv4 { import filter vip_in; export none; };
}
EOF
        for lb in "${ALL_LBS[@]}"; do
            echo "protocol bgp $lb from lb { neighbor ${ADDR[$lb]} as $LB_AS; }"
        done
    } >"$d/bird.conf"
}

write_node_bird() { # HOST
    local h=$1 d=$LAB_DIR/$1
    mkdir -p "$d"
    [ -e "$d/drain.conf" ] || echo "define DRAIN = 0;" >"$d/drain.conf"
    cat >"$d/bird.conf" <<EOF
# $h of the ECMP lab (scripts/lab): announces the VIP while splicer's tun
# device splicer-vip has its carrier (splicer healthy), to the router.
router id ${ADDR[$h]};
log stderr all;
# DRAIN = 1 while scripts/lab drain $h: the route carries GRACEFUL_SHUTDOWN.
include "$d/drain.conf";
protocol device { scan time 10; }
protocol bfd {
    interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };
}
protocol static vip {
    ipv4;
    check link yes;
    route $VIP/32 via "splicer-vip";
}
filter vip_out {
    if proto != "vip" then reject;
    if DRAIN = 1 then bgp_community.add((65535, 0));
    accept;
}
protocol bgp uplink {
    local ${ADDR[$h]} as $LB_AS;
    neighbor ${ADDR[router]} as $ROUTER_AS;
$(bgp_timers)
    ipv4 { import none; export filter vip_out; };
}
EOF
}

start_bird() { # HOST
    local h=$1
    rm -f "$(bird_ctl "$h")"
    start "$h" bird bird -f -c "$LAB_DIR/$h/bird.conf" -s "$(bird_ctl "$h")" -P "$LAB_DIR/$h/bird.run.pid"
    wait_until 10 "BIRD on $h" bird_ready "$h"
}

# --- the router ----------------------------------------------------------
start_router() {
    local d=$LAB_DIR/router
    write_router_bird
    [ -e "$d/ecmp-mode" ] || echo "${LAB_ECMP:-resilient}" >"$d/ecmp-mode"
    case "$(cat "$d/ecmp-mode")" in resilient | plain) ;; *) die "LAB_ECMP must be resilient or plain" ;; esac
    start_bird router
    start router glue python3 -u "$GLUE" run "$d"
}

# nexthops: the router's forwarding for the VIP (ecmp-glue.py nexthops).
nexthops() { in_ns router python3 "$GLUE" nexthops; }
# routed_to HOST: the router sends VIP flows to HOST now.
routed_to() { nexthops | awk 'NR > 1 { print $1 }' | grep -qx "$1"; }
# balanced [N]: the route has N (default: any) members and is balanced.
balanced() {
    local out
    out=$(nexthops) || return 1
    head -n1 <<<"$out" | grep -q ' balanced$' || return 1
    [ -z "${1:-}" ] || [ "$(($(wc -l <<<"$out") - 1))" = "$1" ]
}

# --- load balancers ------------------------------------------------------
write_ecmp_lb_file() { # HOST
    local h=$1 d=$LAB_DIR/$1
    mkdir -p "$d"
    cat >"$(lb_file "$h")" <<EOF
# What differs on $h; read after conf/foobar.cfg: -f conf/foobar.cfg -f $(lb_file "$h")
global
    stats socket $d/admin.sock mode 600 level admin
$LAB_MAXCONN_LINES

# The VIP's route: BIRD announces it while splicer-vip has its carrier
# (backend web has a usable server, splicer runs and is not stopping).
announce vip
    interface splicer-vip
    track_backend web
    # A stop takes the route down first; the listeners stay open this
    # long, for the router to move new flows away.
    withdraw-delay 200ms
EOF
}

# start_ecmp_lb HOST: what of splicer and BIRD is not running on HOST.
start_ecmp_lb() {
    local h=$1 pid
    pid=$(pid_of "$h" splicer) || true
    if [ -z "$pid" ] || ! running "$pid"; then
        write_ecmp_lb_file "$h"
        start "$h" splicer env RUST_LOG=info "$(cat "$LAB_DIR/.splicer")" -L "$h" \
            -f "$ROOT/conf/foobar.cfg" -f "$(lb_file "$h")"
    fi
    pid=$(pid_of "$h" bird) || true
    if [ -z "$pid" ] || ! running "$pid"; then
        write_node_bird "$h"
        start_bird "$h"
    fi
}

# The load balancers whose splicer runs.
running_lbs() {
    local h pid
    for h in "${ALL_LBS[@]}"; do
        pid=$(pid_of "$h" splicer) || continue
        running "$pid" && echo "$h"
    done
    return 0
}

# show_announce HOST: "yes" or "no: why" from splicer's `show announce`.
show_announce() {
    local out
    out=$(python3 "$ROOT/scripts/lab-helper.py" cli "$LAB_DIR/$1/admin.sock" "show announce" 2>/dev/null) ||
        { echo "(no answer)"; return 0; }
    awk -F': ' '$1 == "announced" { a = $2 } $1 == "why" { w = $2 }
        END { if (a == "yes") print "yes"; else print "no: " w }' <<<"$out"
}

# --- commands ------------------------------------------------------------
need_ecmp() { [ "$LAB_MODE" = ecmp ] || die "'$1' needs the ECMP lab (LAB_MODE=ecmp scripts/lab up)"; }

cmd_ecmp() { # resilient|plain
    need_ecmp ecmp
    case "${1:-}" in resilient | plain) ;; *) die "usage: scripts/lab ecmp resilient|plain" ;; esac
    echo "$1" >"$LAB_DIR/router/ecmp-mode"
    wait_until 5 "the router in $1 mode" eval "nexthops | head -n1 | grep -q '^mode $1 '"
    nexthops
}

cmd_nexthops() { need_ecmp nexthops; nexthops; }

set_drain() { # HOST 0|1
    echo "define DRAIN = $2;" >"$LAB_DIR/$1/drain.conf"
    birdc_on "$1" configure >/dev/null || die "birdc configure on $1 failed"
}

# drain HOST: graceful shutdown of its route, then a soft stop of splicer.
cmd_drain() {
    local h=${1:-} t0 took pid i
    need_ecmp drain
    case " ${ALL_LBS[*]} " in *" $h "*) ;; *) die "usage: scripts/lab drain lbN" ;; esac
    routed_to "$h" || die "$h gets no traffic from the router; nothing to drain"
    t0=$EPOCHREALTIME
    set_drain "$h" 1
    for ((i = 0; i < 500; i++)); do routed_to "$h" || break; sleep 0.01; done
    routed_to "$h" && die "the router still sends flows to $h 5 s after its graceful shutdown"
    took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
    say "$h drained: the router stopped sending it new flows $took ms after the graceful-shutdown community"
    # ECMP keeps no per-flow state: from here on, the packets of $h's
    # established connections reach another load balancer, which has no
    # socket for them and answers with a reset. Only new flows are spared.
    pid=$(pid_of "$h" splicer) || true
    if [ -n "$pid" ] && running "$pid"; then
        kill -USR1 "$pid"
        say "$h: splicer soft-stopped (its established connections were cut when the route moved)"
    fi
}

# undrain HOST: splicer again (a fresh one), the community off.
cmd_undrain() {
    local h=${1:-} pid i
    need_ecmp undrain
    case " ${ALL_LBS[*]} " in *" $h "*) ;; *) die "usage: scripts/lab undrain lbN" ;; esac
    pid=$(pid_of "$h" splicer) || true
    if [ -n "$pid" ] && running "$pid"; then
        # A soft-stopping one waits for sessions the route change cut.
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 200; i++)); do running "$pid" || break; sleep 0.05; done
    fi
    set_drain "$h" 0
    start_host "$h"
    say "$h back: $(nexthops | awk 'NR > 1' | paste -sd, | sed 's/,/, /g')"
}

# Part of `scripts/lab status`.
ecmp_status() {
    local h
    for h in "${ALL_LBS[@]}"; do
        [ -S "$LAB_DIR/$h/admin.sock" ] || continue
        say "$h announce: $(show_announce "$h")"
    done
    say "router forwarding for $VIP:"
    nexthops | sed 's/^/    /' || say "    no route"
    say "router BGP sessions (birdc show protocols) and BFD sessions:"
    birdc_on router show protocols 2>&1 | awk 'NR > 2 && $2 == "BGP"' | sed 's/^/    /'
    birdc_on router show bfd sessions 2>&1 | awk 'NR > 3' | sed 's/^/    /'
}
