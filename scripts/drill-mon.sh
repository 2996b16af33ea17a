# The monitoring drill of scripts/drill (sourced by it): 'alerts' builds
# the lab with its monitoring host (scripts/lab: mon runs Prometheus,
# Alertmanager and the blackbox exporter; every host its exporters), then
# causes, one after the other, each fault conf/monitoring/alerts.yml has
# a rule for, for real, and undoes it. For each alert it times three
# things: the fault until its cause shows where the rule's metric comes
# from (as the drill itself sees it: lb1's 'show stat', who holds the VIP,
# SHOW SLAVE STATUS on db2, ...), that moment until the alert is in
# Alertmanager (GET /api/v2/alerts, polled every 0.1 s), and the repair
# until it is gone from there. Between two faults it waits until no alert
# at all is left. The database failover goes last: it moves the primary,
# which the drill then moves back ('mysql switchover').
#
# DRILL_SCREENSHOT=FILE (relative to the repository's root): at the end,
# a PNG of Prometheus' graphs of the drill (splicer's sessions and bytes
# out), taken by headless Chromium.

MON_ADDR=198.51.100.40
MON_AM=http://$MON_ADDR:9093
MON_PROM=http://$MON_ADDR:9090
MON_RULES=$ROOT/conf/monitoring/alerts.yml
MON_INTERVAL_MS=1000   # scripts/lab's MON_INTERVAL: scrapes and rule evaluations
# An alert's pass mark, from the moment its cause shows: one scrape (the
# metric is read), one evaluation (the rule sees it), its 'for:' (pending,
# then firing at an evaluation), and MON_SLACK_MS for this machine (the
# drill's own polling, 0.1 s; a loaded CPU).
MON_SLACK_MS=1000
MON_WAIT_S=30          # any one wait: for a cause, an alert, its end, quiet
MON_READY_S=30         # Prometheus' first scrapes come 5 s after its start
MON_LAG_BOUND=2        # ReplicationLag: 'mysql_slave_status_seconds_behind_master > 2'
MON_CERT_DAYS=3        # the certificate deployed to fire CertExpiringSoon (< 14 days)
MON_DRILL_LIMIT=300

declare -A T WHAT WATCH
ORDER=()
FAILS=()

mon_helper() { on mon python3 "$LAB_HELPER" "$@"; }

# rule_for_ms NAME: the 'for:' of alert NAME in the rules, in ms (0: none).
rule_for_ms() {
    awk -v n="$1" '
        $1 == "-" && ($2 == "alert:" || $2 == "record:") { inside = ($3 == n); next }
        inside && $1 == "for:" { v = $2
            if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; else if (v ~ /m$/) v = v * 60000
            print v; found = 1; exit }
        END { if (!found) print 0 }' "$MON_RULES"
}

# watch_alert KEY firing|gone NAME [LABEL=VALUE...]: Alertmanager polled in
# the background until it holds an alert NAME with these labels (firing)
# or none (gone); 'watched KEY' waits for it and sets SEEN to the time it
# saw so (empty: never).
watch_alert() {
    local key=$1
    shift
    mon_helper wait-alert "$MON_AM" "$MON_WAIT_S" "$@" >"$TMP/watch-$key" 2>&1 &
    WATCH[$key]=$!
    PIDS+=($!)
}
watched() {
    wait "${WATCH[$1]}" 2>/dev/null || true
    forget "${WATCH[$1]}"
    SEEN=$(awk 'NR == 1 && $1 ~ /^[0-9]+[.][0-9]+$/ { print $1 }' "$TMP/watch-$1" 2>/dev/null) || SEEN=
}
watch_failure() { tail -n +2 "$TMP/watch-$1" | tr -s ' \n' ' '; }

# alert_fault NAME WHAT [LABEL=VALUE...]: watching for NAME begins, the
# fault's time is now; the caller then causes it.
alert_fault() {
    local name=$1
    ORDER+=("$name")
    WHAT[$name]=$2
    shift 2
    watch_alert "$name.fire" firing "$name" "$@"
    T[$name.fault]=$EPOCHREALTIME
}
# alert_cause NAME CMD...: polls CMD (the cause, as the rule's metric will
# show it) until it holds.
alert_cause() { poll_stamp "$1" cause "its cause never showed within $MON_WAIT_S s of the fault" "${@:2}"; }
# poll_stamp NAME KEY WHAT CMD...: polls CMD until it holds and stamps
# T[NAME.KEY] with the time, or fails with WHAT.
poll_stamp() {
    local name=$1 key=$2 what=$3
    shift 3
    if poll "$MON_WAIT_S" "$@"; then
        T[$name.$key]=$EPOCHREALTIME
    else
        FAILS+=("$name: $what ($*)")
    fi
}
# cause_logged NAME TEXT: the cause's time from lb1's log instead (the
# first line with TEXT since the fault), when there: splicer stamps it as
# it happens, where the drill's polling of 'show stat' lags behind.
cause_logged() {
    local t
    t=$(log_time "${T[$1.fault]}" "$2")
    [ -z "$t" ] || T[$1.cause]=$t
}
# watch_stamp NAME WATCH KEY WHAT: waits for NAME's watch WATCH
# (watch_alert) and stamps T[NAME.KEY] with the time it saw so, or fails
# with WHAT and what Alertmanager held.
watch_stamp() {
    local name=$1 watch=$2 key=$3 what=$4
    watched "$name.$watch"
    T[$name.$key]=$SEEN
    [ -n "$SEEN" ] || FAILS+=("$name: $what: $(watch_failure "$name.$watch")")
}
alert_fired() { watch_stamp "$1" fire fired "not in Alertmanager within $MON_WAIT_S s of the fault; it held"; }
# alert_undo NAME: watching for NAME's end begins (every alert of that
# name, whatever its labels), the repair's time is now.
alert_undo() {
    watch_alert "$1.gone" gone "$1"
    T[$1.undo]=$EPOCHREALTIME
}
alert_cleared() { poll_stamp "$1" clear "the fault was not undone within $MON_WAIT_S s" "${@:2}"; }
alert_gone() { watch_stamp "$1" gone gone "still in Alertmanager $MON_WAIT_S s after the repair"; }

# mon_quiet WHEN: up to MON_WAIT_S until Alertmanager holds no alert.
mon_quiet() {
    local out
    out=$(mon_helper wait-alert "$MON_AM" "$MON_WAIT_S" gone '*' 2>&1) ||
        FAILS+=("alerts left $MON_WAIT_S s $1: $(tail -n +2 <<<"$out" | tr -s ' \n' ' ')")
}

# --- causes, as the drill sees them --------------------------------------------
server_status() { python3 "$LAB_HELPER" servers "$TMP/lab/$1/admin.sock" "$2" | awk -v s="$3" '$1 == s { print $2 }'; }
server_is() { [ "$(server_status "$1" "$2" "$3")" = "$4" ]; }   # LB BACKEND SERVER STATUS
all_web_up() {
    local h
    for h in lb1 lb2; do
        [ "$(python3 "$LAB_HELPER" servers "$TMP/lab/$h/admin.sock" web | awk '$2 == "UP"' | wc -l)" = 3 ] || return 1
    done
}
backend_is() { [ "$(lab_stat "$1" "$2" BACKEND status)" = "$3" ]; }   # LB BACKEND STATUS
# shellcheck disable=SC2053 # a pattern on purpose
holders_are() { [[ "$(vip_holder)" == $1 ]]; }                        # PATTERN
slave_field() { # HOST FIELD: one field of SHOW SLAVE STATUS
    mariadb --no-defaults -S "$TMP/lab/$1/mysqld.sock" -uroot -e 'SHOW SLAVE STATUS\G' |
        awk -F': ' -v f="$2" '{ k = $1; sub(/^ +/, "", k) } k == f { print $2; exit }'
}
replicating() { [ "$(slave_field db2 Slave_IO_Running) $(slave_field db2 Slave_SQL_Running)" = "Yes Yes" ]; }
not_replicating() { [ "$(slave_field db2 Slave_SQL_Running)" = No ]; }
lag_over() { local l; l=$(slave_field db2 Seconds_Behind_Master); [[ "$l" =~ ^[0-9]+$ ]] && [ "$l" -gt "$1" ]; }
lag_zero() { [ "$(slave_field db2 Seconds_Behind_Master)" = 0 ]; }
read_only_is() { [ "$(lab_root_sql "$1" 'SELECT @@read_only' 2>/dev/null)" = "$2" ]; }   # HOST 0|1
dcon_over() { [ "$(lab_dcon lb1)" -gt "$1" ]; }
# The notAfter of the certificate the client gets from VIP:443 for www.
served_until() {
    on client openssl s_client -connect "$LAB_VIP:443" -servername www.foobar.com </dev/null 2>/dev/null |
        openssl x509 -noout -enddate 2>/dev/null | sed 's/^notAfter=//'
}
served_until_is() { [ "$(served_until)" = "$1" ]; }

# set_cert PEM: 'set ssl cert' + 'commit ssl cert' of www.foobar.com's
# certificate on both load balancers, with the contents of PEM.
set_cert() {
    local h name=$TMP/lab/tls/lb/www.foobar.com.pem a
    for h in lb1 lb2; do
        a=$(lab_cli "$h" "set ssl cert $name <<
$(cat "$1")
")
        [[ "$a" == *"Transaction created"* ]] || { FAILS+=("$h: set ssl cert: $(one_line "$a")"); return 1; }
        a=$(lab_cli "$h" "commit ssl cert $name")
        [[ "$a" == *Success* ]] || { FAILS+=("$h: commit ssl cert: $(one_line "$a")"); return 1; }
    done
}

# short_cert DIR: a certificate for www.foobar.com from the lab CA, good
# for MON_CERT_DAYS days, as DIR/www.pem (certificate and key).
short_cert() {
    local d=$1 tls=$TMP/lab/tls
    mkdir -p "$d"
    (
        umask 077
        LAB_TLS_SAN="DNS:www.foobar.com,DNS:foobar.com" openssl req -config "$tls/openssl.cnf" -x509 \
            -days "$MON_CERT_DAYS" -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -extensions server \
            -subj "/O=www.foobar.com lab/OU=load balancers/CN=www.foobar.com" \
            -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -keyout "$d/www.key" -out "$d/www.crt" >"$d/openssl.log" 2>&1 &&
            cat "$d/www.crt" "$d/www.key" >"$d/www.pem"
    ) || die "openssl: the short certificate: $(tail -n 3 "$d/openssl.log")"
}

# lag_writes SECONDS: an INSERT on db1 every 0.5 s, SECONDS at most or
# until $TMP/stop-writes exists.
lag_writes() {
    local i
    for ((i = 0; i < $1 * 2; i++)); do
        [ ! -e "$TMP/stop-writes" ] || return 0
        lab_root_sql db1 "INSERT INTO foobar.visits (note) VALUES ('drill alerts: lag $i')" || true
        sleep 0.5
    done
}

ms_of() { # A B: B - A in ms, or "-" when either is missing
    if [ -n "$1" ] && [ -n "$2" ]; then ms_between "$1" "$2"; else echo -; fi
}
s_of() { # MS: as seconds with a decimal, or "-"
    if [ "$1" = - ]; then echo -; else awk -v m="$1" 'BEGIN { printf "%.1f s", m / 1000 }'; fi
}

drill_alerts() {
    require curl:curl mariadb:mariadb-client openssl:openssl prometheus:prometheus \
        prometheus-alertmanager:prometheus-alertmanager prometheus-node-exporter:prometheus-node-exporter \
        prometheus-nginx-exporter:prometheus-nginx-exporter prometheus-mysqld-exporter:prometheus-mysqld-exporter \
        prometheus-blackbox-exporter:prometheus-blackbox-exporter promtool:prometheus
    [ -z "${DRILL_SCREENSHOT:-}" ] || require chromium:chromium
    grep -q "mysql_slave_status_seconds_behind_master > $MON_LAG_BOUND " "$MON_RULES" ||
        die "conf/monitoring/alerts.yml's lag bound changed: update MON_LAG_BOUND in scripts/drill-mon.sh"
    grep -q "^MON_INTERVAL=$((MON_INTERVAL_MS / 1000))s" "$ROOT/scripts/lab" ||
        die "scripts/lab's MON_INTERVAL changed: update MON_INTERVAL_MS in scripts/drill-mon.sh"
    promtool check rules "$MON_RULES" >/dev/null || die "promtool check rules $MON_RULES failed"
    DRILL_LIMIT=${DRILL_LIMIT:-$MON_DRILL_LIMIT}
    DRILL_MON=yes
    lab_prepare splicer
    local out
    out=$(mon_helper mon-ready "$MON_PROM" 0 "$MON_READY_S" 2>&1) || die "the monitoring is not ready: $out"
    say "mon: Prometheus $MON_PROM scrapes every target (every ${MON_INTERVAL_MS} ms; rules evaluated as often), Alertmanager $MON_AM"
    mon_quiet "after start-up"
    [ ${#FAILS[@]} = 0 ] || die "${FAILS[*]}"
    say "each fault in turn, undone before the next; client2 asks for a page through the VIP every 10 ms all along"
    say "pass mark, from the cause showing to the alert in Alertmanager: its for: + scrape ${MON_INTERVAL_MS} ms + evaluation ${MON_INTERVAL_MS} ms + ${MON_SLACK_MS} ms"
    on client2 python3 "$LAB_HELPER" gap "$LAB_VIP:80" "$MON_DRILL_LIMIT" "$TMP/gap.tsv" "$TMP/stop" &
    PIDS+=($!)
    local t_start=$EPOCHREALTIME

    # --- a server DOWN, then a backend with none -----------------------------
    local slot w
    slot=$(lab_server_of web web2)
    [ -n "$slot" ] || die "no server of backend web on lb1 has web2's address"
    alert_fault ServerDown "kill -9 web2 (web/$slot on lb1)" instance=lb1 proxy=web server="$slot"
    lab stop web2 --kill
    alert_cause ServerDown server_is lb1 web "$slot" DOWN
    cause_logged ServerDown "Server web/$slot is DOWN"
    alert_fired ServerDown
    alert_fault BackendNoServer "kill -9 web1 and web3 too" instance=lb1 proxy=web
    lab stop web1 --kill
    lab stop web3 --kill
    alert_cause BackendNoServer backend_is lb1 web DOWN
    cause_logged BackendNoServer "proxy web has no server available"
    alert_fired BackendNoServer
    alert_undo ServerDown
    alert_undo BackendNoServer
    for w in web1 web2 web3; do lab start "$w" >"$TMP/start-$w.log" 2>&1 || die "lab start $w: $(tail -n 3 "$TMP/start-$w.log")"; done
    alert_cleared BackendNoServer backend_is lb1 web UP
    alert_cleared ServerDown all_web_up
    alert_gone BackendNoServer
    alert_gone ServerDown
    mon_quiet "after web1-3 came back"

    # --- VRRP: the master's cable pulled -------------------------------------
    alert_fault VRRPBackupHoldsVIP "lb1's cable pulled (lab link lb1 down)" instance=lb2
    lab link lb1 down
    alert_cause VRRPBackupHoldsVIP holders_are "*lb2 *"
    alert_fired VRRPBackupHoldsVIP
    alert_undo VRRPBackupHoldsVIP
    lab link lb1 up
    alert_cleared VRRPBackupHoldsVIP holders_are "lb1 "
    alert_gone VRRPBackupHoldsVIP
    mon_quiet "after lb1's cable was back"

    # --- replication stopped, then behind ------------------------------------
    alert_fault ReplicationStopped "STOP SLAVE on db2" instance=db2
    lab_root_sql db2 "STOP SLAVE"
    alert_cause ReplicationStopped not_replicating
    alert_fired ReplicationStopped
    alert_undo ReplicationStopped
    lab_root_sql db2 "START SLAVE"
    alert_cleared ReplicationStopped replicating
    alert_gone ReplicationStopped
    mon_quiet "after START SLAVE"

    # FLUSH TABLES WITH READ LOCK on db2: its SQL thread waits for the lock
    # (IO thread still running: semi-sync acks go on, writes do not wait),
    # so Seconds_Behind_Master grows a second a second while db1 takes
    # writes. KILL of the locking session ends it.
    rm -f "$TMP/stop-writes"
    alert_fault ReplicationLag "FLUSH TABLES WITH READ LOCK on db2 under writes on db1 (one every 0.5 s)" instance=db2
    lab_root_sql db2 "FLUSH TABLES WITH READ LOCK; SELECT 'drill-alerts-lock', SLEEP($MON_WAIT_S)" >/dev/null 2>&1 &
    local lock_pid=$!
    PIDS+=("$lock_pid")
    lag_writes "$MON_WAIT_S" &
    local writes_pid=$!
    PIDS+=("$writes_pid")
    alert_cause ReplicationLag lag_over "$MON_LAG_BOUND"
    alert_fired ReplicationLag
    alert_undo ReplicationLag
    touch "$TMP/stop-writes"
    local lock_id
    lock_id=$(lab_root_sql db2 "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%drill-alerts-lock%' AND INFO NOT LIKE '%PROCESSLIST%'")
    [ -z "$lock_id" ] || lab_root_sql db2 "KILL $lock_id" || true
    wait "$lock_pid" 2>/dev/null || true
    forget "$lock_pid"
    wait "$writes_pid" 2>/dev/null || true
    forget "$writes_pid"
    alert_cleared ReplicationLag lag_zero
    alert_gone ReplicationLag
    mon_quiet "after the lock on db2 was killed"

    # --- a client over its limit ---------------------------------------------
    local d0 flood_pid
    d0=$(lab_dcon lb1)
    alert_fault SourceRateLimited "client floods VIP:80 with new connections (64 at once)" instance=lb1 proxy=web
    on client python3 "$LAB_HELPER" flood "$LAB_VIP:80" "$MON_WAIT_S" "$TMP/flood.tsv" "$TMP/stop-flood" &
    flood_pid=$!
    PIDS+=("$flood_pid")
    # The flood stops once lb1 counts refusals (its dcon moved): the alert
    # needs no more (its rate looks 5 s back), and a flood that keeps both
    # CPUs busy would delay the scrapes it is timed by. The cause's time is
    # the first connection refused, as the flooding client saw it (its
    # rows, read afterwards): polling lb1's counters lags behind.
    poll "$MON_WAIT_S" dcon_over "$d0" || FAILS+=("SourceRateLimited: lb1's dcon did not move")
    local t_stop=$EPOCHREALTIME
    touch "$TMP/stop-flood"
    wait "$flood_pid" || die "the flood failed"
    forget "$flood_pid"
    T[SourceRateLimited.cause]=$(awk -F'\t' '$3 == "refused" && (t == "" || $2 < t) { t = $2 } END { print t }' "$TMP/flood.tsv")
    [ -n "${T[SourceRateLimited.cause]}" ] || FAILS+=("SourceRateLimited: the flood had no connection refused")
    alert_fired SourceRateLimited
    alert_undo SourceRateLimited
    T[SourceRateLimited.undo]=$t_stop   # the repair: the flood stopped
    T[SourceRateLimited.clear]=$EPOCHREALTIME
    # Its count lifted on both, as an operator would (the table is shared).
    for w in lb1 lb2; do lab_cli "$w" "clear table web key $LAB_CLIENT" >/dev/null; done
    alert_gone SourceRateLimited
    local flood_line
    flood_line=$(python3 "$LAB_HELPER" flood-summary "$TMP/flood.tsv" "${T[SourceRateLimited.fault]}" |
        awk '{ v[$1] = $2 } END { printf "%d connections (%d/s): %d served, %d refused, %d failed", v["attempts.0"], v["rate.0"], v["ok.0"], v["refused.0"], v["err.0"] }')
    mon_quiet "after the flood"

    # --- a certificate about to expire ---------------------------------------
    local until0 until1
    short_cert "$TMP/short"
    until0=$(served_until)
    until1=$(openssl x509 -in "$TMP/short/www.crt" -noout -enddate | sed 's/^notAfter=//')
    alert_fault CertExpiringSoon "a ${MON_CERT_DAYS}-day certificate for www.foobar.com deployed on lb1 and lb2 (set ssl cert; commit)" \
        instance=https://www.foobar.com/
    set_cert "$TMP/short/www.pem" || true
    alert_cause CertExpiringSoon served_until_is "$until1"
    alert_fired CertExpiringSoon
    alert_undo CertExpiringSoon
    set_cert "$TMP/lab/tls/lb/www.foobar.com.pem" || true
    alert_cleared CertExpiringSoon served_until_is "$until0"
    alert_gone CertExpiringSoon
    mon_quiet "after the 30-day certificate was back"

    # --- last: the primary dies; splicer promotes db2; back to db1 -----------
    alert_fault DBPrimaryMoved "kill -9 db1 (splicer promotes db2)" instance=db2
    lab stop db1 --kill
    alert_cause DBPrimaryMoved read_only_is db2 0
    cause_logged DBPrimaryMoved "db2: SET GLOBAL read_only=0"
    alert_fired DBPrimaryMoved
    alert_undo DBPrimaryMoved
    lab start db1 >"$TMP/start-db1.log" 2>&1 || die "lab start db1: $(tail -n 3 "$TMP/start-db1.log")"
    local rejoined=no back=
    poll 10 db_pair db2 db1 && rejoined=yes
    if [ "$rejoined" = yes ]; then
        switch_over db1 db1
        back=$(one_line "$SW_ANSWER")
    else
        FAILS+=("db1 did not rejoin as db2's replica within 10 s of its start: $(db_row lb1 db1)")
    fi
    alert_cleared DBPrimaryMoved read_only_is db2 1
    alert_gone DBPrimaryMoved
    mon_quiet "after the switchover back to db1"

    # What fired meanwhile, as Prometheus recorded it (ALERTS): the drill's
    # own and the others its faults caused, each in the step it fell in.
    mon_helper alert-spans "$MON_PROM" "$t_start" "$EPOCHREALTIME" >"$TMP/spans" 2>&1 ||
        FAILS+=("Prometheus' ALERTS: $(tail -n 1 "$TMP/spans")")
    touch "$TMP/stop"
    [ -z "${DRILL_SCREENSHOT:-}" ] ||
        mon_screenshot "$DRILL_SCREENSHOT" "$(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%ds", (int((b - a) / 10) + 2) * 10 }')"

    say "results (seconds; cause: the fault until the drill sees what the rule reads; alert: from there until it is in Alertmanager; gone: the repair until it left):"
    printf '  %-20s %-8s %-8s %-10s %-8s %s\n' alert cause alert "pass mark" gone fault
    local n f c a g mark
    for n in "${ORDER[@]}"; do
        f=$(rule_for_ms "$n")
        mark=$((f + 2 * MON_INTERVAL_MS + MON_SLACK_MS))
        c=$(ms_of "${T[$n.fault]:-}" "${T[$n.cause]:-}")
        a=$(ms_of "${T[$n.cause]:-}" "${T[$n.fired]:-}")
        g=$(ms_of "${T[$n.undo]:-}" "${T[$n.gone]:-}")
        printf '  %-20s %-8s %-8s %-10s %-8s %s\n' "$n" "$(s_of "$c")" "$(s_of "$a")" "$(s_of "$mark")" "$(s_of "$g")" \
            "${WHAT[$n]} (for: $(s_of "$f"))"
        if [ "$a" != - ] && [ "$a" -gt "$mark" ]; then
            FAILS+=("$n reached Alertmanager $(s_of "$a") after its cause showed, over its pass mark $(s_of "$mark")")
        fi
    done
    read_summary_lab "$t_start"
    printf '  %-36s %s\n' \
        "the flood" "${flood_line:-}" \
        "db1 back after its kill" "rejoined as db2's replica: $rejoined; switchover to db1: ${back:-not tried}" \
        "client2's pages" "${R[ok]} of ${R[attempts]} answered (web1-3 were all down a while)"
    say "every alert that fired, as Prometheus recorded it (ALERTS; seconds from the first fault), and the step it fell in:"
    local from to name labels step
    while read -r from to name labels; do
        step=
        for n in "${ORDER[@]}"; do
            # ALERTS' points are a second apart: a second of slack.
            if awk -v f="$from" -v a="${T[$n.fault]}" -v b="${T[$n.gone]:-${T[$n.fault]}}" 'BEGIN { exit !(f >= a - 1 && f <= b + 1) }'; then
                step=$n
                break
            fi
        done
        printf '  %+.1f to %+.1f  %-20s %s%s\n' "$(awk -v a="$t_start" -v b="$from" 'BEGIN { print b - a }')" \
            "$(awk -v a="$t_start" -v b="$to" 'BEGIN { print b - a }')" "$name" "$labels" "${step:+  (step $step)}"
    done <"$TMP/spans"
    lab_verdict "${FAILS[@]}"
}

# mon_screenshot FILE RANGE: Prometheus' graph page, the last RANGE (80s)
# of splicer's sessions and bytes out on its web and https frontends, in
# headless Chromium (the page draws with JavaScript: --virtual-time-budget
# gives it the time).
mon_screenshot() {
    local file=$1 url
    case "$file" in /*) ;; *) file=$ROOT/$file ;; esac   # scripts/drill runs in the root
    url=$(python3 - "$MON_PROM" "$2" <<'EOF'
import sys, urllib.parse
prom, span = sys.argv[1:]
q = [("g0.expr", 'haproxy_frontend_current_sessions{proxy=~"web|https"}'), ("g0.tab", "0"), ("g0.range_input", span),
     ("g1.expr", 'rate(haproxy_frontend_bytes_out_total{proxy=~"web|https"}[10s])'), ("g1.tab", "0"), ("g1.range_input", span)]
print(prom + "/graph?" + urllib.parse.urlencode(q))
EOF
)
    on mon timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --user-data-dir="$TMP/chromium" --window-size=1200,1700 \
        --virtual-time-budget=10000 --screenshot="$file" "$url" >"$TMP/chromium.log" 2>&1 ||
        FAILS+=("chromium: no screenshot ($(tail -n 1 "$TMP/chromium.log"))")
    [ -s "$file" ] && say "screenshot: $file ($(stat -c %s "$file") bytes; $url)"
}
