# The lab drills of scripts/drill (sourced by it): each builds its own lab
# (scripts/lab up, namespaces "fbdrill-*", state in its temporary
# directory), breaks one host under load from the lab's client, prints what
# the client saw, and removes the lab again (scripts/lab down), on success,
# failure and Ctrl-C alike. Root only (network namespaces).

DRILL_LAB=${DRILL_LAB_NAME:-fbdrill}
LAB_VIP=198.51.100.100
LAB_HELPER=$ROOT/scripts/lab-helper.py
LAB_UP=

# conf/foobar.cfg's check timing, which the web and database drills time:
# a dead server is DOWN within inter x fall, plus one 'timeout check' of
# slack for the check in flight. lab_prepare checks the file still says so.
LAB_INTER_MS=2000
LAB_FALL=3
LAB_CHECK_TIMEOUT_MS=2000
LAB_DETECT_TARGET_MS=$((LAB_INTER_MS * LAB_FALL))
LAB_DETECT_LIMIT_MS=$((LAB_DETECT_TARGET_MS + LAB_CHECK_TIMEOUT_MS))
# The load balancer drills' target: the longest time the client gets no
# answer through the VIP, on failover and on failback; over HTTP and, with
# TLS ending on the load balancers, over HTTPS. The same target for both:
# the HTTPS client's pace (a curl every 25 ms, not a socket every 10 ms)
# and its handshake (a few ms) are small beside it, and a failover is the
# VIP moving, whatever the protocol.
LB_GAP_TARGET_MS=500
LB_HTTPS_URL=https://www.foobar.com/
LB_PHASE_SECS=4    # from the fault to the repair, and from the repaired LB's start to the end
LB_CLIENT_MAX_SECS=60

# The monitoring host (mon) only for the drill that needs it (alerts):
# its scrapes every second would load the CPU the other drills time.
DRILL_MON=no
lab() { LAB_NAME=$DRILL_LAB LAB_DIR=$TMP/lab LAB_LB=$LAB_LB LAB_MON=$DRILL_MON "$ROOT/scripts/lab" "$@"; }
on() { local h=$1; shift; ip netns exec "$DRILL_LAB-$h" "$@"; }

# lab_prepare MODES: checks root and DRILL_LB (one of MODES), builds the lab.
lab_prepare() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "drill $NAME: needs root (it builds the lab in network namespaces)" >&2
        exit 3
    fi
    case " $* " in
        *" $LB "*) ;;
        *) echo "drill $NAME: DRILL_LB must be one of: $* (got '$LB')" >&2; exit 2 ;;
    esac
    LAB_LB=$LB
    grep -q "check inter ${LAB_INTER_MS%000}s fall $LAB_FALL " "$ROOT/conf/foobar.cfg" &&
        grep -q "timeout check ${LAB_CHECK_TIMEOUT_MS%000}s" "$ROOT/conf/foobar.cfg" ||
        die "conf/foobar.cfg's check timing changed: update LAB_INTER_MS, LAB_FALL, LAB_CHECK_TIMEOUT_MS in scripts/drill-lab.sh"
    require python3:python3-minimal ss:iproute2
    LIMIT=${DRILL_LIMIT:-120}
    make_tmp
    start_watchdog
    LAB_UP=1
    lab up >"$TMP/lab-up.log" 2>&1 || { sed 's/^/    /' "$TMP/lab-up.log" >&2; die "scripts/lab up failed"; }
    say "== drill $NAME ($LB)"
    say "$(head -n1 "$TMP/lab-up.log") [lab $DRILL_LAB]"
}

# Called by cleanup.
lab_cleanup() { [ -z "$LAB_UP" ] || lab down >/dev/null 2>&1; }

# lb1's log (it holds the VIP): the first line at or after SINCE with TEXT
# (its epoch time), or the server state changes relative to T0.
log_time() { python3 "$LAB_HELPER" log-time "$TMP/lab/lb1/splicer.log" "$1" "$2"; }
lab_health_events() { python3 "$LAB_HELPER" health-events "$TMP/lab/lb1/splicer.log" "$1"; }

# --- lb-linkdown, lb-stop, lb-kill ---------------------------------------------
vip_holder() {
    local h
    for h in lb1 lb2; do
        ip -n "$DRILL_LAB-$h" -4 -o addr show dev eth0 | grep -q " $LAB_VIP/" && printf '%s ' "$h"
    done
    echo
}

# Address changes on both load balancers, stamped by ip (-ts) as they
# happen. The monitors live in the namespaces (ip -n), outside the lab's
# services; the drill stops them.
watch_vip() {
    local h
    for h in lb1 lb2; do
        ip -ts -o -n "$DRILL_LAB-$h" monitor address >"$TMP/vip-$h.log" 2>&1 &
        PIDS+=($!)
    done
}

# Up to 5 s until lb1 alone holds the VIP after start-up.
wait_lb1_alone() {
    local i
    for i in $(seq 50); do [ "$(vip_holder)" = "lb1 " ] && break; sleep 0.1; done
    [ "$(vip_holder)" = "lb1 " ] || die "lb1 does not hold the VIP alone after start-up (holders: $(vip_holder))"
}

# drill_lb FAULT REPAIR WHAT REPAIRED: the client asks for a page through the
# VIP every 10 ms, and over HTTPS every 25 ms; FAULT hits lb1, REPAIR undoes
# it LB_PHASE_SECS later.
drill_lb() {
    local fault=$1 repair=$2 what=$3 repaired=$4 h
    require curl:curl
    lab_prepare splicer keepalived-haproxy
    wait_lb1_alone
    say "VIP $LAB_VIP on lb1 (priority 150), lb2 (100) backup; VRRPv3, advert 0.1 s"
    say "client: a GET to $LAB_VIP:80 every 10 ms, a new connection each, 1 s timeout"
    say "client: curl --cacert $LB_HTTPS_URL (TLS ends on the VIP's holder) every 25 ms, a new connection and handshake each, 1 s timeout"
    say "fault: $what at +2 s; repaired $LB_PHASE_SECS s later; then $LB_PHASE_SECS s more"
    watch_vip
    on client python3 "$LAB_HELPER" gap "$LAB_VIP:80" "$LB_CLIENT_MAX_SECS" "$TMP/gap.tsv" "$TMP/stop" &
    local load_pid=$!
    PIDS+=("$load_pid")
    on client python3 "$LAB_HELPER" https-gap "$LB_HTTPS_URL" "$TMP/lab/tls/ca.crt" "$LAB_VIP" \
        "$LB_CLIENT_MAX_SECS" "$TMP/https.tsv" "$TMP/stop" &
    local https_pid=$!
    PIDS+=("$https_pid")
    sleep 2
    local t_fault t_repair
    t_fault=$EPOCHREALTIME
    T_KILL=$t_fault
    $fault
    sleep "$LB_PHASE_SECS"
    t_repair=$EPOCHREALTIME
    $repair
    sleep "$LB_PHASE_SECS"
    touch "$TMP/stop"
    wait "$load_pid" || die "the client failed"
    forget "$load_pid"
    wait "$https_pid" || die "the HTTPS client failed"
    forget "$https_pid"
    read_summary_lab "$t_fault" "$t_repair"
    read_summary_lab_https "$t_fault" "$t_repair"

    say "events (relative to the fault):"
    {
        echo "$t_fault $what"
        echo "$t_repair $repaired"
        for h in lb1 lb2; do python3 "$LAB_HELPER" vip-events "$TMP/vip-$h.log" "$h" "$LAB_VIP"; done
    } | sort -n -k1,1 | awk -v t0="$t_fault" '{ t = $1; sub(/^[^ ]+ /, ""); printf "  %+7.3f s  %s\n", t - t0, $0 }'
    say "results:"
    printf '  %-36s %s\n' \
        "answers" "${R[ok]} of ${R[attempts]} requests; ${R[errors]} failed$(first_error)" \
        "longest gap before the fault" "${R[baseline_gap_ms]} ms" \
        "longest gap, failover (lb1 -> lb2)" "${R[gap_ms.0]} ms (from ${R[gap_from.0]} s to ${R[gap_to.0]} s; ${R[errors.0]} requests failed); target ${LB_GAP_TARGET_MS} ms" \
        "longest gap, failback (lb2 -> lb1)" "${R[gap_ms.1]} ms (from ${R[gap_from.1]} s to ${R[gap_to.1]} s after the repair; ${R[errors.1]} failed); target ${LB_GAP_TARGET_MS} ms" \
        "HTTPS answers" "${R[https.ok]} of ${R[https.attempts]} requests; ${R[https.errors]} failed$(first_https_error)" \
        "longest HTTPS gap before the fault" "${R[https.baseline_gap_ms]} ms" \
        "longest HTTPS gap, failover" "${R[https.gap_ms.0]} ms (from ${R[https.gap_from.0]} s to ${R[https.gap_to.0]} s; ${R[https.errors.0]} requests failed); target ${LB_GAP_TARGET_MS} ms" \
        "longest HTTPS gap, failback" "${R[https.gap_ms.1]} ms (from ${R[https.gap_from.1]} s to ${R[https.gap_to.1]} s after the repair; ${R[https.errors.1]} failed); target ${LB_GAP_TARGET_MS} ms" \
        "VIP at the end" "$(vip_holder)"

    local failures=()
    [ "${R[recovered.0]}" = yes ] || failures+=("no answer after the fault: lb2 never served the VIP")
    [ "${R[recovered.1]}" = yes ] || failures+=("no answer after the repair")
    [ "${R[gap_ms.0]}" -le "$LB_GAP_TARGET_MS" ] || failures+=("failover gap ${R[gap_ms.0]} ms, over ${LB_GAP_TARGET_MS} ms")
    [ "${R[gap_ms.1]}" -le "$LB_GAP_TARGET_MS" ] || failures+=("failback gap ${R[gap_ms.1]} ms, over ${LB_GAP_TARGET_MS} ms")
    [ "${R[https.recovered.0]}" = yes ] || failures+=("no HTTPS answer after the fault: lb2 never served it")
    [ "${R[https.recovered.1]}" = yes ] || failures+=("no HTTPS answer after the repair")
    [ "${R[https.gap_ms.0]}" -le "$LB_GAP_TARGET_MS" ] || failures+=("HTTPS failover gap ${R[https.gap_ms.0]} ms, over ${LB_GAP_TARGET_MS} ms")
    [ "${R[https.gap_ms.1]}" -le "$LB_GAP_TARGET_MS" ] || failures+=("HTTPS failback gap ${R[https.gap_ms.1]} ms, over ${LB_GAP_TARGET_MS} ms")
    [ "$(vip_holder)" = "lb1 " ] || failures+=("the VIP did not return to lb1 alone (holders: $(vip_holder))")
    lab_verdict "${failures[@]}"
}

read_summary_lab() {
    local k v
    while read -r k v; do R[$k]=$v; done < <(python3 "$LAB_HELPER" gap-summary "$TMP/gap.tsv" "$@")
}
# The HTTPS client's figures, as R[https.KEY].
read_summary_lab_https() {
    local k v
    while read -r k v; do R[https.$k]=$v; done < <(python3 "$LAB_HELPER" gap-summary "$TMP/https.tsv" "$@")
}
first_https_error() { [ "${R[https.first_error]}" = - ] || echo " (first: ${R[https.first_error]})"; }

lab_verdict() { # like verdict, with the load balancers' logs (lb3, lb4: ECMP)
    if [ $# -eq 0 ]; then
        say "PASS ($LB, $((SECONDS - START)) s)"
        exit 0
    fi
    say "FAIL ($LB, $((SECONDS - START)) s):"
    printf '  - %s\n' "$@"
    local f
    for f in "$TMP"/lab/lb[1-4]/*.log; do
        [[ "$f" != *-exporter.log ]] || continue   # the monitoring's (scripts/lab's mon)
        echo "$f (last 15 lines):"
        tail -n 15 "$f" | sed 's/^/    /'
    done
    exit 1
}

link_down() { lab link lb1 down; }
link_up() { lab link lb1 up; }
lb1_stop() { lab stop lb1; }
lb1_kill() { lab stop lb1 --kill; }
lb1_start() { lab start lb1; }

# --- web-kill, lab-db-replica-kill ----------------------------------------------
# lab_server_of BACKEND HOST: the server of BACKEND, on lb1, whose address
# is HOST's. The web servers come from a server-template filled by DNS
# (web.foobar.com): which of web1..web3 holds web2's address follows the
# order of the name server's answers, so it is looked up, never assumed.
lab_server_of() {
    local backend=$1 host=$2 ip
    ip=$(ip -n "$DRILL_LAB-$host" -4 -o addr show dev eth0 | awk '!n++ { sub(/\/.*/, "", $4); print $4 }')
    python3 "$LAB_HELPER" servers "$TMP/lab/lb1/admin.sock" "$backend" | awk -v a="$ip:" 'index($3, a) == 1 && !n++ { print $1 }'
}

# drill_lab_kill HOST LOAD ADDR BACKEND: LOAD (http or mysql) from the client
# through ADDR; HOST killed after KILL_AFTER s; BACKEND/HOST should go DOWN.
drill_lab_kill() {
    local victim=$1 kind=$2 addr=$3 backend=$4
    lab_prepare splicer
    local secs=$((KILL_AFTER + LAB_DETECT_LIMIT_MS / 1000 + 3))
    say "lb1 (holds the VIP) runs conf/foobar.cfg: inter ${LAB_INTER_MS}ms fall $LAB_FALL, timeout check ${LAB_CHECK_TIMEOUT_MS}ms, retries 3, option redispatch"
    say "load: $CLIENTS clients from the client host, a new connection per request through $addr, $secs s; kill -9 $victim after $KILL_AFTER s"
    on client env DRILL_DB_USER=foobar MYSQL_PWD=foobar python3 "$HELPER" "$kind" "$addr" "$secs" "$CLIENTS" "$TMP/load.tsv" &
    local load_pid=$!
    PIDS+=("$load_pid")
    sleep "$KILL_AFTER"
    local t_kill t_dead t_down
    VICTIM_SERVER=$(lab_server_of "$backend" "$victim") || true
    [ -n "$VICTIM_SERVER" ] || die "no server of $backend on lb1 has $victim's address"
    say "$victim is server $backend/$VICTIM_SERVER on lb1"
    t_kill=$EPOCHREALTIME
    T_KILL=$t_kill
    lab stop "$victim" --kill
    t_dead=$EPOCHREALTIME
    wait "$load_pid" || die "the load client failed"
    forget "$load_pid"
    t_down=$(log_time "$t_kill" "Server $backend/$VICTIM_SERVER is DOWN")
    read_summary "$TMP/load.tsv" "$t_dead" ${t_down:+"$t_down"}
    say "events (relative to the kill):"
    printf '  %+7.3f s  kill -9 %s (every process of its service); gone %+.3f s\n' 0 "$victim" \
        "$(awk -v a="$t_kill" -v b="$t_dead" 'BEGIN { print b - a }')"
    lab_health_events "$t_kill"
    DETECT_MS=
    [ -n "$t_down" ] && DETECT_MS=$(ms_between "$t_kill" "$t_down")
    LAB_FAILURES=()
    [ "${R[requests_after]}" -gt 0 ] || LAB_FAILURES+=("no request was made after the kill")
    # Requests in flight when the server was marked DOWN may be cut by
    # conf/foobar.cfg's 'on-marked-down shutdown-sessions' (splicer also cuts
    # a session still retrying its connect to the dead server then, instead
    # of redispatching it): counted and shown, not a missed target.
    local cut=${R[errors_at_down]:-0}
    [ "$((R[errors_after] - cut))" = 0 ] ||
        LAB_FAILURES+=("$((R[errors_after] - cut)) client errors on connections opened after the kill (first: ${R[first_error_after]})")
    if [ -z "$DETECT_MS" ]; then
        LAB_FAILURES+=("$victim was never marked DOWN ('Server $backend/$VICTIM_SERVER is DOWN' not in lb1's log)")
    elif [ "$DETECT_MS" -gt "$LAB_DETECT_LIMIT_MS" ]; then
        LAB_FAILURES+=("DOWN after $DETECT_MS ms, over the ${LAB_DETECT_LIMIT_MS} ms pass mark")
    fi
}

cut_at_down() {
    [ "${R[errors_at_down]:-0}" = 0 ] ||
        echo "; ${R[errors_at_down]} of them in flight at DOWN, cut by on-marked-down shutdown-sessions (${R[first_error_at_down]})"
}

detect_line() {
    echo "${DETECT_MS:-never} ms; target inter x fall = ${LAB_DETECT_TARGET_MS} ms, pass mark ${LAB_DETECT_LIMIT_MS} ms"
}

drill_web_kill() {
    require curl:curl
    drill_lab_kill web2 http "$LAB_VIP:80" web
    say "results:"
    printf '  %-34s %s\n' \
        "requests ok" "${R[ok]} in ${R[duration_s]} s ($(sed -e 's/:/: /g' -e 's/,/, /g' <<<"${R[by_server]}"))" \
        "client errors, total" "${R[errors]}$(first_error)" \
        "client errors after the kill" "${R[errors_after]} of ${R[requests_after]} connections opened once web2 was gone$(cut_at_down)" \
        "slowest request after the kill" "${R[slowest_after_ms]} ms" \
        "kill -> web2 (web/$VICTIM_SERVER) DOWN" "$(detect_line)"
    lab_verdict "${LAB_FAILURES[@]}"
}

lab_names() { sed -e 's/\b2:/db2: /g' -e 's/\b1:/db1: /g' -e 's/,/, /g'; }

drill_lab_db_replica_kill() {
    require mariadb:mariadb-client
    drill_lab_kill db2 mysql "$LAB_VIP:3307" mysql-read
    local write_after=ok
    on client mariadb --no-defaults -h"$LAB_VIP" -P3306 -ufoobar -pfoobar --connect-timeout=5 foobar \
        -e "INSERT INTO visits (note) VALUES ('drill $NAME: after the kill')" 2>"$TMP/write.err" ||
        write_after="failed: $(tail -n1 "$TMP/write.err")"
    say "results:"
    printf '  %-34s %s\n' \
        "reads ok" "${R[ok]} in ${R[duration_s]} s ($(lab_names <<<"${R[by_server]}"))" \
        "client errors, total" "${R[errors]}$(first_error)" \
        "client errors after the kill" "${R[errors_after]} of ${R[requests_after]} reads opened once db2 was gone$(cut_at_down)" \
        "reads after the kill answered by" "$(lab_names <<<"${R[by_server_after]}")" \
        "first read from db1" "${R[first_after_ms.1]:-never}${R[first_after_ms.1]:+ ms after the kill}" \
        "kill -> db2 marked DOWN" "$(detect_line)" \
        "reads opened after DOWN" "${R[requests_after_down]:-0}, answered by $(lab_names <<<"${R[by_server_after_down]:--}")" \
        "write through :3306 after the kill" "$write_after"
    [[ "${R[by_server_after]}" == *1:* ]] || LAB_FAILURES+=("no read after the kill was answered by db1")
    if [ -n "${R[requests_after_down]:-}" ] && ! [[ "${R[by_server_after_down]}" =~ ^1:[0-9]+$ ]]; then
        LAB_FAILURES+=("reads opened after DOWN were not all answered by db1 ($(lab_names <<<"${R[by_server_after_down]}"))")
    fi
    [ "$write_after" = ok ] || LAB_FAILURES+=("write through :3306 after the kill $write_after")
    lab_verdict "${LAB_FAILURES[@]}"
}

# The stats socket of lb1 or lb2: one command (TIMEOUT seconds, default 2).
lab_cli() { python3 "$LAB_HELPER" cli "$TMP/lab/$1/admin.sock" "$2" ${3:+"$3"}; }

# --- lab-blocklist ----------------------------------------------------------------
# An operator shuts one client out at run time: 'add acl conf/blocklist.lst
# ADDR' on the runtime API of both load balancers (conf/foobar.cfg's web,
# https and https_e2e frontends: tcp-request connection reject if { src -f
# conf/blocklist.lst }), while another client keeps loading the site. The
# lists live in each process and the pair shares nothing: lb2 needs the
# entry too, for when it takes the VIP over, which the drill then makes it
# do (lb1's cable pulled). 'del acl' lets the client in again.
LAB_BLOCKLIST=conf/blocklist.lst
LAB_CLIENT=198.51.100.2   # the client host: the one refused
LAB_CLIENT2=198.51.100.3  # client2: served all along

lab_stat() { python3 "$LAB_HELPER" stat "$TMP/lab/$1/admin.sock" "$2" "$3" "$4"; }
# Connections refused by tcp-request connection rules on LB (web + https +
# https_e2e).
lab_dcon() {
    echo $(($(lab_stat "$1" web FRONTEND dcon) + $(lab_stat "$1" https FRONTEND dcon) +
        $(lab_stat "$1" https_e2e FRONTEND dcon)))
}

# lab_try HOST URL LB: one GET from HOST (its own connection, 2 s at most)
# through the VIP, held by LB. Prints "ok SERVER"; "refused CURL_EXIT
# ERROR" when it failed and LB's rules counted one more refused connection
# (curl says 52 or 56 for :80, 35 for :443, or 7 when the reset comes
# before it looked at its connect); else "failed CURL_EXIT ERROR (dcon +N)".
lab_try() {
    local out rc=0 d0 d1
    d0=$(lab_dcon "$3")
    out=$(on "$1" curl -sS --max-time 2 --cacert "$TMP/lab/tls/ca.crt" "$2" 2>&1) || rc=$?
    d1=$(lab_dcon "$3")
    out=$(tail -n1 <<<"$out" | sed 's/ *$//')
    if [ "$rc" = 0 ]; then
        echo "ok $(sed -n 's/.*served by \([a-z0-9]*\).*/\1/p' <<<"$out")"
    elif [ $((d1 - d0)) = 1 ]; then
        echo "refused $rc $out"
    else
        echo "failed $rc $out (dcon +$((d1 - d0)))"
    fi
}

# one_line TEXT: its lines joined, trimmed; "(empty: done)" for none (the
# runtime API's answer to a change that worked).
one_line() { local t; t=$(tr -s '\n' ' ' <<<"$1" | sed 's/^ *//; s/ *$//'); echo "${t:-(empty: done)}"; }
joined() { local IFS=';'; sed 's/;/; /g' <<<"$*"; }

# wait_holder PATTERN: up to 5 s until vip_holder matches PATTERN ("*lb2 *":
# lb2 holds it, "lb1 ": lb1 alone).
wait_holder() {
    local i
    for i in $(seq 50); do
        # shellcheck disable=SC2053 # a pattern on purpose
        [[ "$(vip_holder)" == $1 ]] && return 0
        sleep 0.1
    done
    return 1
}

# wait_served HOST URL LB: up to 3 s until HOST gets a page; the last answer.
wait_served() {
    local i r
    for i in $(seq 15); do
        r=$(lab_try "$@")
        [[ $r == ok* ]] && break
        sleep 0.2
    done
    echo "$r"
}

drill_lab_blocklist() {
    require curl:curl
    lab_prepare splicer keepalived-haproxy
    local http=http://www.foobar.com/ https=https://www.foobar.com/ h a r u
    local failures=() answers=() through_lb1=() through_lb2=() again=()
    say "conf/foobar.cfg, frontends web (:80) and https (:443, TLS ends there): tcp-request connection reject if { src -f $LAB_BLOCKLIST }"
    say "refused at run time: client ($LAB_CLIENT); client2 ($LAB_CLIENT2) sends a GET to $LAB_VIP:80 every 10 ms meanwhile"
    for u in "$http" "$https"; do
        r=$(lab_try client "$u" lb1)
        [[ $r == ok* ]] || die "client is not served before the drill: $u: $r"
    done

    on client2 python3 "$LAB_HELPER" gap "$LAB_VIP:80" "$LB_CLIENT_MAX_SECS" "$TMP/gap.tsv" "$TMP/stop" &
    local load_pid=$!
    PIDS+=("$load_pid")
    sleep 1
    local t_add
    t_add=$EPOCHREALTIME
    T_KILL=$t_add
    for h in lb1 lb2; do
        a=$(lab_cli "$h" "add acl $LAB_BLOCKLIST $LAB_CLIENT")
        answers+=("$h: add acl $LAB_BLOCKLIST $LAB_CLIENT: $(one_line "$a")")
    done
    # The very next connection is refused (the runtime API answers once
    # the list has changed), and the ones after it, :80 and :443.
    for u in "$http" "$http" "$https" "$http" "$https" "$http" "$https"; do
        r=$(lab_try client "$u" lb1)
        through_lb1+=("${u%%:*} ${r%% curl: *}")
        [[ $r == refused* ]] || failures+=("client through lb1, $u: $r (should be refused)")
    done
    sleep 1
    touch "$TMP/stop"
    wait "$load_pid" || die "client2's load failed"
    forget "$load_pid"
    read_summary_lab "$t_add"
    [ "${R[errors]}" = 0 ] || failures+=("client2: ${R[errors]} of ${R[attempts]} requests failed (first: ${R[first_error]})")
    [ "${R[recovered.0]}" = yes ] || failures+=("client2 got no answer after the add")

    # Failover: lb2 serves the VIP, and refuses the client too.
    local t_fault t_over served2 back
    t_fault=$EPOCHREALTIME
    lab link lb1 down
    # (lb1, alone with its cable out, may keep its copy: nobody reaches it.)
    wait_holder "*lb2 *" || failures+=("lb2 did not take the VIP within 5 s of lb1's cable pulled")
    t_over=$(ms_between "$t_fault" "$EPOCHREALTIME")
    served2=$(wait_served client2 "$https" lb2)
    [[ $served2 == ok* ]] || failures+=("client2 not served through lb2: $served2")
    for u in "$http" "$https"; do
        r=$(lab_try client "$u" lb2)
        through_lb2+=("${u%%:*} ${r%% curl: *}")
        [[ $r == refused* ]] || failures+=("client through lb2, $u: $r (should be refused)")
    done
    lab link lb1 up
    wait_holder "lb1 " || failures+=("the VIP did not return to lb1 alone within 5 s (holders: $(vip_holder))")
    back=$(wait_served client2 "$http" lb1)
    [[ $back == ok* ]] || failures+=("client2 not served after lb1 came back: $back")

    # The operator lets the client in again, on both.
    local get_before get_after
    get_before=$(one_line "$(lab_cli lb1 "get acl $LAB_BLOCKLIST $LAB_CLIENT")")
    for h in lb1 lb2; do
        a=$(lab_cli "$h" "del acl $LAB_BLOCKLIST $LAB_CLIENT")
        answers+=("$h: del acl $LAB_BLOCKLIST $LAB_CLIENT: $(one_line "$a")")
    done
    get_after=$(one_line "$(lab_cli lb1 "get acl $LAB_BLOCKLIST $LAB_CLIENT")")
    for u in "$http" "$https"; do
        r=$(lab_try client "$u" lb1)
        again+=("${u%%:*} $r")
        [[ $r == ok* ]] || failures+=("client after del acl, $u: $r (should be served)")
    done

    say "runtime API:"
    printf '  %s\n' "${answers[@]}"
    say "results (refused N: curl's exit status N, and the LB's dcon rose by one):"
    printf '  %-36s %s\n' \
        "client through lb1, after the add" "$(printf '%s\n' "${through_lb1[@]}" | sort | uniq -c |
            awk '{ n = $1; sub(/^ *[0-9]+ /, ""); printf "%s%s x%d", sep, $0, n; sep = "; " }')" \
        "client2 meanwhile (every 10 ms)" "${R[ok]} of ${R[attempts]} answered, ${R[errors]} failed$(first_error); longest gap ${R[gap_ms.0]} ms" \
        "lb1's cable pulled: lb2 has the VIP" "after ${t_over} ms" \
        "client2 through lb2" "$served2" \
        "client through lb2" "$(joined "${through_lb2[@]}")" \
        "lb1's cable back: VIP held by" "$(vip_holder)(client2: $back)" \
        "get acl on lb1, before del" "$get_before" \
        "get acl on lb1, after del" "$get_after" \
        "client after del acl" "$(joined "${again[@]}")"
    lab_verdict "${failures[@]}"
}

# --- flood ------------------------------------------------------------------------
FLOOD_RATE_LIMIT=20000  # conf/foobar.cfg, frontend web: sc0_conn_rate gt 20000 (per 10 s)
FLOOD_SECS=4            # the flood through lb1, then through lb2
FLOOD_IN_FLIGHT=64      # lab-helper.py's connections at once

# flood_entry LB: the flooding client's line of 'show table web' on LB.
flood_entry() {
    lab_cli "$1" "show table web key $LAB_CLIENT" | sed -n 's/^0x[0-9a-f]*: //p' | sed 's/ exp=[0-9]*//'
}

drill_flood() {
    lab_prepare splicer keepalived-haproxy
    grep -q "sc0_conn_rate gt $FLOOD_RATE_LIMIT " "$ROOT/conf/foobar.cfg" ||
        die "conf/foobar.cfg's rate limit changed: update FLOOD_RATE_LIMIT in scripts/drill-lab.sh"
    wait_lb1_alone
    say "conf/foobar.cfg, frontend web: track-sc0 src; reject if { sc0_conn_rate gt $FLOOD_RATE_LIMIT } || { sc0_conn_cur gt 50 }; table shared by lb1 and lb2 (peers foobar)"
    say "flood: client ($LAB_CLIENT) opens connections to $LAB_VIP:80 as fast as it can ($FLOOD_IN_FLIGHT at once, a GET on each)"
    say "ordinary client: client2 ($LAB_CLIENT2), a GET every 10 ms; lb1 killed (kill -9) after $FLOOD_SECS s of flood, then $FLOOD_SECS s through lb2"
    watch_vip
    on client2 python3 "$LAB_HELPER" gap "$LAB_VIP:80" "$LB_CLIENT_MAX_SECS" "$TMP/gap.tsv" "$TMP/stop" &
    local load_pid=$!
    PIDS+=("$load_pid")
    sleep 1
    local t_flood t_fault t_over t_after
    t_flood=$EPOCHREALTIME
    on client python3 "$LAB_HELPER" flood "$LAB_VIP:80" "$LB_CLIENT_MAX_SECS" "$TMP/flood.tsv" "$TMP/stop" &
    local flood_pid=$!
    PIDS+=("$flood_pid")
    sleep "$FLOOD_SECS"
    local on_lb1 on_lb2_before on_lb2
    on_lb1=$(flood_entry lb1)
    on_lb2_before=$(flood_entry lb2)
    t_fault=$EPOCHREALTIME
    T_KILL=$t_fault
    lab stop lb1 --kill
    local failures=()
    wait_holder "*lb2 *" || failures+=("lb2 did not take the VIP within 5 s of lb1's kill")
    t_over=$(ms_between "$t_fault" "$EPOCHREALTIME")
    t_after=$EPOCHREALTIME
    on_lb2=$(flood_entry lb2)
    sleep "$FLOOD_SECS"
    touch "$TMP/stop"
    wait "$flood_pid" || die "the flood failed"
    forget "$flood_pid"
    wait "$load_pid" || die "client2's load failed"
    forget "$load_pid"

    # Phases: the flood through lb1; the failover (from 0.5 s before the
    # kill, what was in flight, to 0.5 s after lb2 took the VIP); through lb2.
    local w0 w1
    w0=$(awk -v t="$t_fault" 'BEGIN { printf "%.6f", t - 0.5 }')
    w1=$(awk -v t="$t_after" 'BEGIN { printf "%.6f", t + 0.5 }')
    declare -A F
    local k v
    while read -r k v; do F[$k]=$v; done < <(python3 "$LAB_HELPER" flood-summary "$TMP/flood.tsv" "$t_flood" "$w0" "$w1")
    read_summary_lab "$t_flood" "$w0" "$w1"

    local max_lb1=$((FLOOD_RATE_LIMIT + FLOOD_IN_FLIGHT)) max_lb2=$((FLOOD_RATE_LIMIT / 10))
    [ "${F[refused.0]}" -gt 0 ] || failures+=("lb1 refused none of the flood's ${F[attempts.0]} connections")
    [ "${F[ok.0]}" -le "$max_lb1" ] || failures+=("lb1 served ${F[ok.0]} flood connections (limit $FLOOD_RATE_LIMIT per 10 s)")
    [ "${F[ok.2]}" -le "$max_lb2" ] ||
        failures+=("lb2 served ${F[ok.2]} flood connections after the failover: the count did not come through peers (a fresh table would serve $FLOOD_RATE_LIMIT)")
    [ "${F[attempts.2]}" -gt 0 ] || failures+=("no flood connection reached lb2")
    [ -n "$on_lb2_before" ] || failures+=("lb2's table had no entry for the flooding client before the failover")
    [ "${R[errors.0]}" = 0 ] || failures+=("client2: ${R[errors.0]} requests failed during the flood through lb1")
    [ "${R[errors.2]}" = 0 ] || failures+=("client2: ${R[errors.2]} requests failed during the flood through lb2")
    [ "${R[recovered.2]}" = yes ] || failures+=("client2 was not served through lb2")

    say "results:"
    printf '  %-40s %s\n' \
        "flood through lb1 ($FLOOD_SECS s)" "${F[attempts.0]} connections (${F[rate.0]}/s): ${F[ok.0]} served, ${F[refused.0]} refused, ${F[err.0]} failed" \
        "lb1's entry for the flood, before kill" "$on_lb1" \
        "lb2's entry for it (learnt from lb1)" "${on_lb2_before:-none}" \
        "lb1 killed: lb2 holds the VIP" "after ${t_over} ms" \
        "lb2's entry when it took over" "${on_lb2:-none}" \
        "flood during the failover" "${F[attempts.1]} connections: ${F[ok.1]} served, ${F[refused.1]} refused, ${F[err.1]} failed (${F[first_error.1]})" \
        "flood through lb2 ($FLOOD_SECS s)" "${F[attempts.2]} connections (${F[rate.2]}/s): ${F[ok.2]} served, ${F[refused.2]} refused, ${F[err.2]} failed; target <= $max_lb2 served" \
        "client2 (ordinary), flood through lb1" "${R[errors.0]} failed" \
        "client2 during the failover" "${R[errors.1]} failed; longest gap ${R[gap_ms.1]} ms" \
        "client2 (ordinary), flood through lb2" "${R[errors.2]} failed" \
        "client2 in all" "${R[ok]} of ${R[attempts]} answered; wait p50 ${R[latency_ms_p50]} ms, p99 ${R[latency_ms_p99]} ms, max ${R[latency_ms_max]} ms"
    lab_verdict "${failures[@]}"
}
