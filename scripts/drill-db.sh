# The database drills of scripts/drill (sourced by it, after drill-lab.sh):
# db-primary-kill, db-primary-linkdown, app-path, db-switchover and
# db-replica-lag. Each builds its own lab (lab_prepare), loads the database
# tier through the VIP from the client host, breaks or moves the primary,
# and checks what splicer's cluster monitor (conf/foobar.cfg's
# mysql-cluster foobar_db) made of it from three sides: the clients' (paced
# attempts, drill-helper.py paced: one every 50 ms whatever the others are
# doing, each INSERT with a number of its own), the databases' (their rows
# and GTIDs, read as root over their Unix sockets) and splicer's own
# account (show mysql on lb1 and lb2, lb1's log).

DB_CLUSTER=foobar_db
DB_VIP_W=$LAB_VIP:3306
DB_VIP_R=$LAB_VIP:3307
# conf/foobar.cfg's monitor settings, which the targets rest on, read from
# the file by db_prepare: interval, failover-after, failover-confirm (how
# long every replica must have heard nothing from the primary before a
# failover; splicer's default 2 s when the file has none).
DB_INTERVAL_MS=
DB_FAILOVER_AFTER=
DB_FAILOVER_CONFIRM_MS=
# Targets. A killed primary: its replica's connection closes at once, so
# splicer may promote it after failover-after rounds; at most 2 s without
# an acknowledged write. A pulled cable cannot be told from a slow network
# before failover-confirm (db2 must have heard nothing from db1 that long):
# failover-confirm plus 1 s for the promotion (set by db_prepare).
DB_OUTAGE_TARGET_MS=2000
DB_LINK_OUTAGE_TARGET_MS=
DB_REJOIN_LIMIT_S=3           # the old primary, answering again: rejoined or kept out within this
DB_READ_MOVE_TARGET_MS=3000   # db-replica-lag: reads leave a stopped replica, and come back, within this
DB_LOAD_MAX_S=90              # a load client stops by itself after this
DB_BASELINE_S=2               # load before the fault
LOAD_PIDS=()

lab_root_sql() { mariadb --no-defaults -S "$TMP/lab/$1/mysqld.sock" -uroot -N -B -e "$2"; }
lab_semi_sync() { lab_root_sql "$1" "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_$2'" | cut -f2; }

show_mysql() { lab_cli "$1" "show mysql" 2>/dev/null || true; }
# db_row LB SERVER: SERVER's line of LB's 'show mysql' from its state on:
# "state role read_only lag gtid io sql semi_sync error..."
db_row() {
    show_mysql "$1" | awk -v c="$DB_CLUSTER" -v s="$2" '$1 == c && $2 == s { $1 = $2 = $3 = ""; sub(/^ +/, ""); print; exit }'
}
db_is() { [[ "$(db_row "$1" "$2")" =~ $3 ]]; }   # LB SERVER REGEX
db_primary() { show_mysql "$1" | sed -n "s/^# $DB_CLUSTER: primary \([^;]*\);.*/\1/p"; }
db_is_primary() { [ "$(db_primary "$1")" = "$2" ]; }   # LB SERVER
# The failover summary and its steps, as 'show mysql' has them.
db_timeline() { show_mysql "$1" | sed -n "s/^# $DB_CLUSTER: \(last \|  \)/\1/p"; }

# As 'scripts/lab up' leaves it, seen by both load balancers: db1 the
# writable primary, db2 its read-only replica with both threads running.
cluster_as_built() {
    local h
    for h in lb1 lb2; do
        db_is "$h" db1 '^up primary 0 ' && db_is "$h" db2 '^up replica 1 0 .* Yes Yes ' || return 1
    done
}
# REPLICA replicates from PRIMARY (both threads running), on both.
db_pair() {
    local h
    for h in lb1 lb2; do
        db_is_primary "$h" "$1" && db_is "$h" "$2" '^up replica 1 [0-9]+ .* Yes Yes ' || return 1
    done
}

now_us() { echo "${EPOCHREALTIME/./}"; }
# poll SECONDS CMD...: CMD every 0.1 s until it succeeds (0) or SECONDS pass (1).
poll() {
    local until=$(($(now_us) + $1 * 1000000))
    shift
    until "$@"; do
        [ "$(now_us)" -lt "$until" ] || return 1
        sleep 0.1
    done
}
ms_or() { if [ -n "$2" ]; then ms_between "$1" "$2"; else echo "${3:-never}"; fi; }   # T0 T [ELSE]

# cluster_setting KEYWORD: its value in conf/foobar.cfg's mysql-cluster
# section, in ms for a time ("200ms", "1s"), as it is otherwise; empty when
# the section has no such line.
cluster_setting() {
    awk -v c="$DB_CLUSTER" -v k="$1" '
        $1 == "mysql-cluster" { inside = ($2 == c); next }
        /^[^ \t#]/ { inside = 0 }
        inside && $1 == k { v = $2
            if (v ~ /^[0-9]+ms$/) v = v + 0
            else if (v ~ /^[0-9]+s$/) v = v * 1000
            print v; exit }' "$ROOT/conf/foobar.cfg"
}

# db_prepare MODES: root, the lab, the monitor settings the targets rest on.
db_prepare() {
    require mariadb:mariadb-client
    lab_prepare "$@"
    DB_INTERVAL_MS=$(cluster_setting interval)
    DB_FAILOVER_AFTER=$(cluster_setting failover-after)
    DB_FAILOVER_CONFIRM_MS=$(cluster_setting failover-confirm)
    DB_FAILOVER_CONFIRM_MS=${DB_FAILOVER_CONFIRM_MS:-2000}
    [[ "$DB_INTERVAL_MS$DB_FAILOVER_AFTER$DB_FAILOVER_CONFIRM_MS" =~ ^[0-9]+$ ]] &&
        [ "$(cluster_setting failover)" = auto ] ||
        die "conf/foobar.cfg: no mysql-cluster $DB_CLUSTER with failover auto, interval, failover-after in a form this drill reads"
    DB_LINK_OUTAGE_TARGET_MS=$((DB_FAILOVER_CONFIRM_MS + 1000))
    DB_TAG="drill $NAME"
    LOAD_PIDS=()
    if [ "$LB" = splicer ]; then
        poll 10 cluster_as_built || die "lb1 and lb2 do not both see db1 primary and db2 replicating; lb1: $(show_mysql lb1)"
    fi
}

# db_load KIND ADDR OUT: drill-helper.py paced from the client host until
# $TMP/stop exists. The writers' INSERTs carry "$DB_TAG N".
db_load() {
    on client env DRILL_DB_USER=foobar MYSQL_PWD=foobar DRILL_TAG="$DB_TAG" DRILL_STOP_FILE="$TMP/stop" \
        python3 "$HELPER" paced "$1" "$2" "$DB_LOAD_MAX_S" "$3" &
    LOAD_PIDS+=($!)
    PIDS+=($!)
}
db_load_stop() {
    local p
    touch "$TMP/stop"
    for p in "${LOAD_PIDS[@]}"; do
        wait "$p" || die "a load client failed"
        forget "$p"
    done
    LOAD_PIDS=()
}

# paced_summary PREFIX OUT ACKED T_FAULT [T_MARK [T_END]]: its figures into R[PREFIX.key].
paced_summary() {
    local p=$1 k v
    shift
    while read -r k v; do R[$p.$k]=$v; done < <(python3 "$HELPER" paced-summary "$@")
}

# The writers' attempt numbers in HOST's visits, one a line (twice if
# there twice), sorted as comm wants them.
db_ids() { lab_root_sql "$1" "SELECT SUBSTRING_INDEX(note, ' ', -1) FROM foobar.visits WHERE note LIKE '$DB_TAG %'" | sort; }
# The numbers of the acknowledged attempts (from an ACKED file).
acked_ids() { cut -d' ' -f1 "$1" | sort; }
count() { grep -c . || true; }
# gtid_seq HOST SERVER_ID: the sequence number of the last transaction
# SERVER_ID wrote (domain 0) that HOST has in its binlog; 0 if none.
gtid_seq() {
    lab_root_sql "$1" "SELECT @@gtid_binlog_state" | tr ',' '\n' | awk -F- -v s="$2" '$1 == 0 && $2 == s { n = $3 } END { print n + 0 }'
}
# catch_up HOST FROM: up to 5 s until HOST has applied what FROM has.
catch_up() {
    local pos
    pos=$(lab_root_sql "$2" "SELECT @@gtid_binlog_pos")
    [ "$(lab_root_sql "$1" "SELECT MASTER_GTID_WAIT('$pos', 5)")" = 0 ]
}

# db_data_checks ACKED PRIMARY: acknowledged writes against PRIMARY's
# rows; into R[data.*].
db_data_checks() {
    local ids
    ids=$(db_ids "$2")
    R[data.acked]=$(count <"$1")
    R[data.missing]=$(comm -23 <(acked_ids "$1") <(uniq <<<"$ids") | count)
    R[data.missing_list]=$(comm -23 <(acked_ids "$1") <(uniq <<<"$ids") | sort -n | head -n 10 | tr '\n' ' ')
    R[data.dups]=$(uniq -d <<<"$ids" | count)
    R[data.rows]=$(count <<<"$ids")
}

# lb1's mysql events from T0 on, merged in time order with the drill's own
# (stdin, from drill_events), cut to a screen's width.
# lb1 has said how its failover ended (ok or failed).
failover_over() { show_mysql lb1 | grep -qE "^# $DB_CLUSTER: last failover .*: (ok|failed)"; }
# db1, answering again, has settled as lb1 sees it: a replica of db2 with
# both threads running, kept out (diverged), or the primary still (no
# failover happened); its line of show mysql in DB1_LINE.
db1_settled() {
    DB1_LINE=$(db_row lb1 db1)
    [[ $DB1_LINE =~ ^up\ replica\ 1\ .*\ Yes\ Yes\  || $DB1_LINE == *diverged* || $DB1_LINE == *"kept out"* ||
        $DB1_LINE =~ ^up\ primary ]]
}
# logged SINCE TEXT: lb1's log has TEXT at or after SINCE.
logged() { [ -n "$(log_time "$1" "$2")" ]; }

db_events_with() {
    { cat; python3 "$LAB_HELPER" mysql-events "$TMP/lab/lb1/splicer.log" "$1" | awk '$1 + 0 >= -0.001'; } |
        sort -s -g -k1,1 | cut -c1-220
}
# "EPOCH what" lines -> "  +S.SSS s  (drill) what", relative to T0.
drill_events() { awk -v t0="$1" '{ t = $1; sub(/^[^ ]+ /, ""); printf "  %+7.3f s  (drill) %s\n", t - t0, $0 }'; }

# --- db-primary-kill, db-primary-linkdown, app-path -------------------------------
# drill_db_primary kill|linkdown|app: the primary db1 dies (kill -9 of its
# mariadbd) or loses its cable, under writes and reads through the VIP
# (app: under the application page's requests); splicer should promote
# db2 by itself. Then db1 comes back (started again, or its cable plugged
# in) and should rejoin as db2's replica, or be kept out, saying why.
drill_db_primary() {
    local fault=$1
    if [ "$fault" = kill ]; then db_prepare splicer keepalived-haproxy; else db_prepare splicer; fi
    [ "$LB" = splicer ] || { drill_db_primary_haproxy; return; }
    local target=$DB_OUTAGE_TARGET_MS what="kill -9 db1 (its mariadbd)"
    [ "$fault" = linkdown ] && { target=$DB_LINK_OUTAGE_TARGET_MS; what="db1's cable pulled (its switch port down)"; }
    say "cluster $DB_CLUSTER (conf/foobar.cfg): interval ${DB_INTERVAL_MS}ms, failover auto after $DB_FAILOVER_AFTER missed rounds once db2 lost db1 too (failover-confirm ${DB_FAILOVER_CONFIRM_MS} ms; target without an acknowledged write ${target} ms); mysql-write queues new connections while it runs (timeout queue 5s)"
    if [ "$fault" = app ]; then
        say "client: GET http://www.foobar.com/visit.php every 50 ms, a new connection each (the page: INSERT through VIP:3306, SELECT COUNT(*) through VIP:3307; 503 on a database error)"
        db_load page "$LAB_VIP:80" "$TMP/pages.tsv"
    else
        say "writer: every 50 ms a new connection through VIP:3306: 'SELECT @@report_host; INSERT INTO visits (note) VALUES (\"$DB_TAG N\")', N its own"
        say "reader: every 50 ms a new connection through VIP:3307: 'SELECT @@report_host'"
        db_load insert "$DB_VIP_W" "$TMP/writes.tsv"
        db_load select "$DB_VIP_R" "$TMP/reads.tsv"
    fi
    say "fault: $what after ${DB_BASELINE_S} s"
    sleep "$DB_BASELINE_S"
    local semi no_tx0 own0
    semi=$(lab_semi_sync db1 status)
    no_tx0=$(lab_semi_sync db1 no_tx)
    own0=$(gtid_seq db1 1)
    local t_fault t_over='' t_lb2='' t_repair='' t_back='' t_settled='' timeline over_ok=no
    t_fault=$EPOCHREALTIME
    T_KILL=$t_fault
    if [ "$fault" = linkdown ]; then lab link db1 down; else lab stop db1 --kill; fi

    # The failover, as lb1 (the VRRP MASTER) runs it; lb2 follows the roles.
    poll 15 failover_over && t_over=$EPOCHREALTIME || t_over=
    timeline=$(db_timeline lb1)
    [[ "$timeline" == *": ok in "* ]] && over_ok=yes
    local lb2_saw=
    poll 5 db_is_primary lb2 db2 && t_lb2=$EPOCHREALTIME || lb2_saw=$(db_primary lb2)
    local t_down t_begin t_done t_primary
    t_down=$(log_time "$t_fault" "Server mysql-write/db1 is DOWN")
    t_begin=$(log_time "$t_fault" "mysql-cluster $DB_CLUSTER: failover from db1 to db2 begins")
    t_done=$(log_time "$t_fault" "mysql-cluster $DB_CLUSTER: failover from db1 to db2 done")
    t_primary=$(log_time "$t_fault" "mysql-cluster $DB_CLUSTER: db2 is the primary; writes go to it")

    # Writes on db2 for 2 s (the old primary still out), then it comes back.
    sleep 2
    local db1_ro=- db1_semi=- own_cut=- no_tx_cut=-
    if [ "$fault" = linkdown ]; then
        # Cut off, db1 is still the writable primary it was: what it took
        # meanwhile it took from nobody splicer sent to it.
        db1_ro=$(lab_root_sql db1 "SELECT @@read_only")
        db1_semi=$(lab_semi_sync db1 status)
        own_cut=$(gtid_seq db1 1)
        no_tx_cut=$(lab_semi_sync db1 no_tx)
        t_repair=$EPOCHREALTIME
        lab link db1 up
        t_back=$EPOCHREALTIME
    elif [ "$fault" = kill ]; then
        t_repair=$EPOCHREALTIME
        lab start db1 >"$TMP/db1-start.log" 2>&1 || { sed 's/^/    /' "$TMP/db1-start.log" >&2; die "lab start db1 failed"; }
        t_back=$EPOCHREALTIME   # it answers (read-only, my.cnf)
    fi
    local settled=-
    if [ "$fault" != app ]; then
        poll "$DB_REJOIN_LIMIT_S" db1_settled && t_settled=$EPOCHREALTIME || t_settled=''
        settled=$DB1_LINE
        sleep 1   # writes go on through the rejoin
    else
        sleep 1
    fi
    db_load_stop
    local primary_end primary_end2
    primary_end=$(db_primary lb1)
    primary_end2=$(db_primary lb2)
    local mark=${t_primary:-$t_over}
    mark=${mark:-$EPOCHREALTIME}

    say "events (relative to the fault; lb1's log, and what the drill did):"
    {
        echo "$t_fault $what"
        [ -z "$t_repair" ] || echo "$t_repair $([ "$fault" = linkdown ] && echo "db1's cable plugged in" || echo "lab start db1")"
        [ -z "$t_back" ] || [ "$fault" = linkdown ] || echo "$t_back db1 answers (read-only, as its my.cnf starts it)"
    } | drill_events "$t_fault" | db_events_with "$t_fault"
    say "lb1's account of the failover (show mysql):"
    sed 's/^/  /' <<<"${timeline:-  (none)}"
    say "lb2 (the VRRP BACKUP: it follows the roles it sees), its mysql-cluster lines:"
    python3 "$LAB_HELPER" mysql-events "$TMP/lab/lb2/splicer.log" "$t_fault" |
        awk '$1 + 0 >= -0.001 && / mysql-cluster /' | cut -c1-220

    local failures=()
    if [ "$fault" = app ]; then
        paced_summary p "$TMP/pages.tsv" "$TMP/acked-pages" "$t_fault" "$mark"
        say "results:"
        printf '  %-46s %s\n' \
            "pages before the fault" "${R[p.ok_before]} (write/read server)" \
            "HTTP errors" "${R[p.errors]} of ${R[p.attempts]} (${R[p.errors_before]} before the fault); $(cut -c1-200 <<<"${R[p.error_kinds]}")" \
            "longest gap between two good pages" "${R[p.gap_ms]} ms (from ${R[p.gap_from]} s to ${R[p.gap_to]} s); before the fault ${R[p.baseline_gap_ms]} ms; target ${target} ms" \
            "slowest good page" "${R[p.slowest]}" \
            "failover (lb1)" "$([ "$over_ok" = yes ] && echo "done at +$(ms_or "$t_fault" "$t_done") ms" || echo "not done: ${timeline:-none}")" \
            "pages started after db2 took writes" "${R[p.ok_started_after_mark]} (write/read server); ${R[p.errors_started_after_mark]} failed"
        [ "$over_ok" = yes ] || failures+=("no failover to db2 (lb1: ${timeline:-no failover})")
        [ "${R[p.gap_ms]}" -le "$target" ] || failures+=("a user waited ${R[p.gap_ms]} ms between two good pages (target ${target} ms)")
        [[ "${R[p.ok_started_after_mark]}" =~ ^(db2/[a-z0-9]+:[0-9]+,?)+$ ]] ||
            failures+=("pages after the failover were not all written on db2 (${R[p.ok_started_after_mark]})")
        lab_verdict "${failures[@]}"
    fi

    paced_summary w "$TMP/writes.tsv" "$TMP/acked" "$t_fault" "$mark"
    paced_summary r "$TMP/reads.tsv" "$TMP/acked-reads" "$t_fault" "$mark"
    local kept=""
    [[ $settled == *diverged* || $settled == *"kept out"* ]] && kept=yes
    # The rows: acknowledged writes on the primary at the end; what db1 has
    # that db2 has not (after it caught up, when it replicates).
    db_data_checks "$TMP/acked" "${primary_end:-db2}"
    local caught=- only_db1=- own_end seq_db2 ahead
    own_end=$(gtid_seq db1 1)
    seq_db2=$(gtid_seq db2 1)
    ahead=$((own_end > seq_db2 ? own_end - seq_db2 : 0))
    if [[ $settled =~ ^up\ replica ]]; then
        catch_up db1 db2 && caught=yes || caught="no (not within 5 s)"
        only_db1=$(comm -23 <(db_ids db1 | uniq) <(db_ids db2 | uniq) | count)
    fi
    local rejoin_ms=
    [ -n "$t_settled" ] && rejoin_ms=$(ms_between "$t_back" "$t_settled")

    say "results:"
    printf '  %-46s %s\n' \
        "writes acknowledged before the fault" "${R[w.ok_before]} (semi-sync on db1: $semi)" \
        "write outage (longest gap between acks)" "${R[w.gap_ms]} ms (from ${R[w.gap_from]} s to ${R[w.gap_to]} s); before the fault ${R[w.baseline_gap_ms]} ms; target ${target} ms" \
        "first write acknowledged after the fault" "${R[w.first_ok_after]}" \
        "failed writes" "${R[w.errors]} of ${R[w.attempts]} (${R[w.errors_before]} before the fault); $(cut -c1-240 <<<"${R[w.error_kinds]}")" \
        "slowest acknowledged write" "${R[w.slowest]}" \
        "fault -> db1 DOWN in mysql-write (lb1)" "$(ms_or "$t_fault" "$t_down") ms" \
        "fault -> failover begins / db2 takes writes" "$(ms_or "$t_fault" "$t_begin") ms / $(ms_or "$t_fault" "$t_primary") ms" \
        "failover result (lb1)" "$(head -n1 <<<"${timeline:-none}")" \
        "lb2 follows (primary db2)" "$([ -n "$t_lb2" ] && echo "at +$(ms_between "$t_fault" "$t_lb2") ms (polled)" || echo "no: primary ${lb2_saw:-none} 5 s after the failover ended")" \
        "writes acked after db2 took writes, by" "$([ -n "$t_primary" ] && echo "${R[w.ok_ended_after_mark]} (target: no db1)" || echo "- (db2 never took writes)")" \
        "acknowledged writes missing on ${primary_end:-?}" "${R[data.missing]} of ${R[data.acked]}${R[data.missing_list]:+ (attempts ${R[data.missing_list]})}; duplicated rows: ${R[data.dups]}"
    if [ "$fault" = linkdown ]; then
        printf '  %-46s %s\n' \
            "db1 while cut off" "read_only=$db1_ro, semi-sync $db1_semi, its own transactions 0-1-$own0 -> 0-1-$own_cut ($((own_cut - own0)) during the cut; $((no_tx_cut - no_tx0)) committed without db2's ack)"
    fi
    printf '  %-46s %s\n' \
        "db1 back -> settled (lb1)" "${rejoin_ms:-not within ${DB_REJOIN_LIMIT_S} s} ${rejoin_ms:+ms}: $settled" \
        "db1's own transactions db2 lacks" "$ahead (db1's last own GTID 0-1-$own_end, db2 has 0-1-$seq_db2)" \
        "db1 caught up with db2 / rows only on db1" "$caught / $only_db1" \
        "reads" "${R[r.ok]} ok ($(sed 's/,/, /g' <<<"${R[r.ok_before]}") before the fault; $(sed 's/,/, /g' <<<"${R[r.ok_ended_after_mark]}") after the failover), ${R[r.errors]} failed; longest gap ${R[r.gap_ms]} ms$( [ "${R[r.errors]}" = 0 ] || echo "; $(cut -c1-160 <<<"${R[r.error_kinds]}")")" \
        "primary at the end" "lb1: ${primary_end:-none}, lb2: ${primary_end2:-none}" \
        "show mysql on lb1 at the end" "db1 $(db_row lb1 db1)" \
        "" "db2 $(db_row lb1 db2)"

    [ "$over_ok" = yes ] || failures+=("no failover to db2 (lb1: $(head -n1 <<<"${timeline:-no failover within 15 s}"))")
    [ "${R[w.ok_before]}" != none ] || failures+=("no write was acknowledged before the fault")
    [ "${R[w.gap_ms]}" -le "$target" ] || failures+=("write outage ${R[w.gap_ms]} ms, over ${target} ms")
    [ "${R[data.missing]}" = 0 ] || failures+=("${R[data.missing]} acknowledged writes missing on ${primary_end:-the primary}")
    [ "${R[data.dups]}" = 0 ] || failures+=("${R[data.dups]} writes are on ${primary_end:-the primary} twice")
    [ -z "$t_primary" ] || [[ "${R[w.ok_ended_after_mark]}" != *db1* ]] ||
        failures+=("db1 acknowledged writes after db2 took over (${R[w.ok_ended_after_mark]})")
    [ "$primary_end" = db2 ] && [ "$primary_end2" = db2 ] ||
        failures+=("the primary at the end is not db2 on both (lb1: ${primary_end:-none}, lb2: ${primary_end2:-none})")
    if [ "$over_ok" != yes ]; then
        :   # no failover: nothing to rejoin; the state is printed above
    elif [ -z "$rejoin_ms" ]; then
        failures+=("db1 neither rejoined nor was kept out within ${DB_REJOIN_LIMIT_S} s of answering again ($settled)")
    elif [ -n "$kept" ]; then
        say "  (db1 is kept out: $(sed 's/^.* \(on\|off\) //' <<<"$settled"))"
        [ "$ahead" -gt 0 ] || failures+=("db1 was kept out though db2 has every transaction of it ($settled)")
    elif [[ $settled =~ ^up\ replica ]]; then
        [ "$ahead" = 0 ] || failures+=("db1 rejoined with $ahead transactions of its own that db2 lacks: the data split")
        [ "$caught" = yes ] || failures+=("db1 did not catch up with db2 within 5 s")
        [ "$only_db1" = 0 ] || failures+=("$only_db1 writes are on db1 and not on db2")
    else
        failures+=("db1 came back as: $settled")
    fi
    lab_verdict "${failures[@]}"
}

# HAProxy on the same file: conf/foobar.cfg's '.else' lines (mysql-check on
# db1, db2 a disabled backup). It promotes nothing: the drill shows for how
# long writes fail after the kill, and stops there.
drill_db_primary_haproxy() {
    local watch=6
    say "HAProxy 2.6 reads conf/foobar.cfg's .else lines: mysql-write has db1 (mysql-check) and db2 as a disabled backup; a person promotes db2"
    say "writer and reader as with splicer; kill -9 db1 after ${DB_BASELINE_S} s; then $watch s of watching"
    db_load insert "$DB_VIP_W" "$TMP/writes.tsv"
    db_load select "$DB_VIP_R" "$TMP/reads.tsv"
    sleep "$DB_BASELINE_S"
    local t_fault
    t_fault=$EPOCHREALTIME
    T_KILL=$t_fault
    lab stop db1 --kill
    sleep "$watch"
    db_load_stop
    paced_summary w "$TMP/writes.tsv" "$TMP/acked" "$t_fault"
    paced_summary r "$TMP/reads.tsv" "$TMP/acked-reads" "$t_fault"
    say "results:"
    printf '  %-46s %s\n' \
        "writes acknowledged before the kill" "${R[w.ok_before]}" \
        "write outage" "${R[w.gap_ms]} ms (from ${R[w.gap_from]} s) and counting: the drill stopped watching" \
        "failed writes after the kill" "${R[w.errors_after]}; $(cut -c1-200 <<<"${R[w.error_kinds]}")" \
        "reads" "${R[r.ok]} ok, ${R[r.errors]} failed; longest gap ${R[r.gap_ms]} ms"
    local failures=()
    [ "${R[w.recovered]}" = yes ] ||
        failures+=("no write acknowledged in the $watch s after the kill: HAProxy has no failover; writes fail until a person promotes db2 and runs 'set server' on both load balancers (conf/foobar.cfg's .else lines)")
    lab_verdict "${failures[@]}"
}

# --- db-switchover -------------------------------------------------------------------
# switch_over TO [SERVER]: 'mysql switchover foobar_db [SERVER]' on lb1;
# sets SW_T0, SW_T1 (sent, answered) and SW_ANSWER, and waits for both load
# balancers to see TO primary with the other replicating.
switch_over() {
    local to=$1 from
    from=$([ "$to" = db2 ] && echo db1 || echo db2)
    SW_T0=$EPOCHREALTIME
    SW_ANSWER=$(lab_cli lb1 "mysql switchover $DB_CLUSTER${2:+ $2}" 15 2>&1) || SW_ANSWER="(stats socket: $SW_ANSWER)"
    SW_T1=$EPOCHREALTIME
    SW_TIMELINE=$(db_timeline lb1)
    poll 5 db_pair "$to" "$from" && SW_SETTLED=$EPOCHREALTIME || SW_SETTLED=
}

drill_db_switchover() {
    db_prepare splicer
    say "writer: every 50 ms a new connection through VIP:3306: 'SELECT @@report_host; INSERT INTO visits (note) VALUES (\"$DB_TAG N\")'"
    say "after ${DB_BASELINE_S} s: 'mysql switchover $DB_CLUSTER' on lb1's stats socket; 2 s later 'mysql switchover $DB_CLUSTER db1' (back); then both again with the writer stopped"
    db_load insert "$DB_VIP_W" "$TMP/writes.tsv"
    sleep "$DB_BASELINE_S"
    T_KILL=$EPOCHREALTIME
    local a0 a1 s1 ans1 tl1 b0 b1 s2 ans2 tl2
    switch_over db2
    a0=$SW_T0 a1=$SW_T1 s1=$SW_SETTLED ans1=$SW_ANSWER tl1=$SW_TIMELINE
    sleep 2
    switch_over db1 db1
    b0=$SW_T0 b1=$SW_T1 s2=$SW_SETTLED ans2=$SW_ANSWER tl2=$SW_TIMELINE
    sleep 1
    db_load_stop
    paced_summary a "$TMP/writes.tsv" "$TMP/acked-a" "$a0" "$a1" "$b0"
    paced_summary b "$TMP/writes.tsv" "$TMP/acked-b" "$b0" "$b1"
    paced_summary w "$TMP/writes.tsv" "$TMP/acked" "$a0"
    local primary_end caught=yes
    primary_end=$(db_primary lb1)
    db_data_checks "$TMP/acked" db1
    catch_up db2 db1 || caught=no
    local missing_db2
    missing_db2=$(comm -23 <(acked_ids "$TMP/acked") <(db_ids db2 | uniq) | count)

    say "events (relative to the first switchover; lb1's log, and what the drill did):"
    {
        echo "$a0 mysql switchover $DB_CLUSTER (sent to lb1)"
        echo "$a1 its answer"
        [ -z "$s1" ] || echo "$s1 lb1 and lb2 both see db2 primary, db1 replicating"
        echo "$b0 mysql switchover $DB_CLUSTER db1 (sent to lb1)"
        echo "$b1 its answer"
        [ -z "$s2" ] || echo "$s2 lb1 and lb2 both see db1 primary, db2 replicating"
    } | drill_events "$a0" | db_events_with "$a0"
    say "lb1's account (show mysql), db1 -> db2:"
    sed 's/^/  /' <<<"${tl1:-  (none)}"
    say "lb1's account (show mysql), db2 -> db1:"
    sed 's/^/  /' <<<"${tl2:-  (none)}"
    local d1 d2
    d1=$(sed -n 's/.* done in \([0-9]*\) ms.*/\1/p' <<<"$ans1")
    d2=$(sed -n 's/.* done in \([0-9]*\) ms.*/\1/p' <<<"$ans2")
    say "results:"
    printf '  %-46s %s\n' \
        "switchover db1 -> db2: answer" "$(tr -s '\n' ' ' <<<"$ans1")(command answered after $(ms_between "$a0" "$a1") ms; lb1 and lb2 agree after $(ms_or "$a0" "$s1") ms)" \
        "  failed writes / longest pause" "${R[a.errors]} of ${R[a.attempts]}$( [ "${R[a.errors]}" = 0 ] || echo " (${R[a.error_kinds]})") / ${R[a.gap_ms]} ms (from ${R[a.gap_from]} s to ${R[a.gap_to]} s; before: ${R[a.baseline_gap_ms]} ms)" \
        "  slowest write / acked after the answer by" "${R[a.slowest]} / ${R[a.ok_started_after_mark]}" \
        "switchover db2 -> db1: answer" "$(tr -s '\n' ' ' <<<"$ans2")(command answered after $(ms_between "$b0" "$b1") ms; lb1 and lb2 agree after $(ms_or "$b0" "$s2") ms)" \
        "  failed writes / longest pause" "${R[b.errors_after]} of ${R[b.attempts_after]}$( [ "${R[b.errors_after]}" = 0 ] || echo " (${R[b.error_kinds]})") / ${R[b.gap_ms]} ms (from ${R[b.gap_from]} s to ${R[b.gap_to]} s)" \
        "  slowest write / acked after the answer by" "${R[b.slowest]} / ${R[b.ok_started_after_mark]}" \
        "writes acknowledged" "${R[w.ok]} of ${R[w.attempts]} ($(sed 's/,/, /g' <<<"${R[w.ok_by]}"))" \
        "acknowledged writes missing on db1 / db2" "${R[data.missing]} / $missing_db2 (db2 caught up: $caught); duplicated rows on db1: ${R[data.dups]}"

    local failures=()
    [ -n "$d1" ] || failures+=("switchover db1 -> db2 failed: $ans1")
    [ -n "$d2" ] || failures+=("switchover back to db1 failed: $ans2")
    [ -n "$s1" ] || failures+=("lb1 and lb2 did not both see db2 primary and db1 replicating within 5 s")
    [ -n "$s2" ] || failures+=("lb1 and lb2 did not both see db1 primary and db2 replicating within 5 s of the switch back")
    [ "${R[w.errors]}" = 0 ] || failures+=("${R[w.errors]} writes failed (${R[w.error_kinds]})")
    [ "${R[data.missing]}" = 0 ] || failures+=("${R[data.missing]} acknowledged writes missing on db1")
    [ "$missing_db2" = 0 ] || failures+=("$missing_db2 acknowledged writes missing on db2")
    [ "${R[data.dups]}" = 0 ] || failures+=("${R[data.dups]} writes are on db1 twice")
    [[ "${R[a.ok_started_after_mark]}" =~ ^(db2:[0-9]+|none)$ ]] ||
        failures+=("writes started after the switchover to db2 were acknowledged by ${R[a.ok_started_after_mark]}")
    [ "$primary_end" = db1 ] || failures+=("the primary at the end is ${primary_end:-none}, not db1")

    # The same round trip with no write in between, as in a quiet
    # maintenance window: then the old primary has nothing of the new
    # one's to wait for.
    local c0 c1 ans3 ans4 tl4 idle_write=ok
    switch_over db2
    c0=$SW_T0 ans3=$SW_ANSWER
    switch_over db1 db1
    c1=$SW_T0 ans4=$SW_ANSWER tl4=$SW_TIMELINE
    on client env MYSQL_PWD=foobar mariadb --no-defaults -h"$LAB_VIP" -P3306 -ufoobar --connect-timeout=10 foobar \
        -e "INSERT INTO visits (note) VALUES ('drill $NAME: after the idle round trip')" 2>"$TMP/idle-write.err" ||
        idle_write="failed: $(tail -n1 "$TMP/idle-write.err")"
    say "no write in between: $(ms_between "$a0" "$c0") ms and $(ms_between "$a0" "$c1") ms after the first switchover:"
    printf '  %-46s %s
' \
        "switchover db1 -> db2, no write since" "$(tr -s '\n' ' ' <<<"$ans3")" \
        "switchover db2 -> db1, no write since" "$(tr -s '\n' ' ' <<<"$ans4")" \
        "a write through VIP:3306 then" "$idle_write" \
        "primary then (lb1)" "$(db_primary lb1)"
    [[ "$ans4" == *" done in "* ]] || sed 's/^/  /' <<<"$tl4"
    [[ "$ans3" == *" done in "* ]] || failures+=("idle switchover db1 -> db2 failed: $ans3")
    [[ "$ans4" == *" done in "* ]] || failures+=("idle switchover back to db1 failed: $ans4")
    [ "$idle_write" = ok ] || failures+=("a write after the idle round trip $idle_write")
    lab_verdict "${failures[@]}"
}

ms_text() { if [[ $1 =~ ^-?[0-9]+$ ]]; then echo "$1 ms"; else echo "$1"; fi; }
# caught_text MS: how reads coming back MS ms after db2 caught up reads.
caught_text() {
    if [ -z "$1" ]; then
        echo "db2 did not catch up"
    elif [ "$1" -lt 0 ]; then
        echo "$((-$1)) ms before db2 had applied all db1 had at START SLAVE: within max-lag"
    else
        echo "$1 ms after db2 caught up"
    fi
}

# --- db-replica-lag --------------------------------------------------------------------
# db2's replication stopped by hand: reads through VIP:3307 should move
# to the primary (conf/foobar.cfg: a replica that does not replicate, or
# lags more than max-lag, takes no reads; the primary takes them when no
# replica is fit), and come back once db2 replicates and has caught up.
drill_db_replica_lag() {
    db_prepare splicer
    say "reader: every 50 ms a new connection through VIP:3307: 'SELECT @@report_host'; writer: INSERTs through VIP:3306 as often (db2 falls behind while stopped)"
    say "after ${DB_BASELINE_S} s: STOP SLAVE on db2 (as root on its socket); START SLAVE once reads have been on db1 for 2 s"
    db_load select "$DB_VIP_R" "$TMP/reads.tsv"
    db_load insert "$DB_VIP_W" "$TMP/writes.tsv"
    sleep "$DB_BASELINE_S"
    local t_stop t_start t_caught='' pos
    t_stop=$EPOCHREALTIME
    T_KILL=$t_stop
    lab_root_sql db2 "STOP SLAVE"
    poll 5 logged "$t_stop" "Server mysql-read/db2 is DOWN" || true
    sleep 2
    pos=$(lab_root_sql db1 "SELECT @@gtid_binlog_pos")
    t_start=$EPOCHREALTIME
    lab_root_sql db2 "START SLAVE"
    [ "$(lab_root_sql db2 "SELECT MASTER_GTID_WAIT('$pos', 10)")" = 0 ] && t_caught=$EPOCHREALTIME || t_caught=
    poll 5 logged "$t_start" "Server mysql-read/db2 is UP" || true
    sleep 2
    db_load_stop
    declare -A M B
    local k v
    while read -r k v; do M[$k]=$v; done < <(python3 "$HELPER" moved "$TMP/reads.tsv" "$t_stop" db1 "$t_start")
    while read -r k v; do B[$k]=$v; done < <(python3 "$HELPER" moved "$TMP/reads.tsv" "$t_start" db2)
    paced_summary r "$TMP/reads.tsv" "$TMP/acked-reads" "$t_stop"
    paced_summary w "$TMP/writes.tsv" "$TMP/acked" "$t_stop"

    say "events (relative to STOP SLAVE; lb1's log, and what the drill did):"
    {
        echo "$t_stop STOP SLAVE on db2"
        echo "$t_start START SLAVE on db2"
        [ -z "$t_caught" ] || echo "$t_caught db2 has applied what db1 had at START SLAVE (MASTER_GTID_WAIT)"
    } | drill_events "$t_stop" | db_events_with "$t_stop"
    local caught_ms back_after_caught=
    caught_ms=$(ms_or "$t_start" "$t_caught")
    [ -n "$t_caught" ] && [ "${B[moved_ms]}" != never ] && back_after_caught=$((B[moved_ms] - caught_ms))
    say "results:"
    printf '  %-46s %s\n' \
        "reads before STOP SLAVE" "${R[r.ok_before]}" \
        "STOP SLAVE -> reads on db1" "${M[moved_ms]} ms (last read from db2 started at: $(ms_text "${M[last_other_ms]}")); target ${DB_READ_MOVE_TARGET_MS} ms" \
        "  reads while stopped" "${M[answered]}; ${M[errors]} failed" \
        "START SLAVE -> db2 caught up" "$caught_ms ms" \
        "START SLAVE -> reads on db2 again" "${B[moved_ms]} ms ($(caught_text "$back_after_caught"); last read from db1 started at: $(ms_text "${B[last_other_ms]}")); target ${DB_READ_MOVE_TARGET_MS} ms after catching up" \
        "  reads after START SLAVE" "${B[answered]}; ${B[errors]} failed" \
        "failed reads, in all" "${R[r.errors]} of ${R[r.attempts]}$( [ "${R[r.errors]}" = 0 ] || echo " (${R[r.error_kinds]})"); longest gap ${R[r.gap_ms]} ms" \
        "writes meanwhile" "${R[w.ok]} acknowledged, ${R[w.errors]} failed"
    local failures=()
    if [ "${M[moved_ms]}" = never ]; then
        failures+=("reads never moved to db1 while db2 was stopped (${M[answered]})")
    elif [ "${M[moved_ms]}" -gt "$DB_READ_MOVE_TARGET_MS" ]; then
        failures+=("reads moved to db1 ${M[moved_ms]} ms after STOP SLAVE (target ${DB_READ_MOVE_TARGET_MS} ms)")
    fi
    [ -n "$t_caught" ] || failures+=("db2 did not catch up within 10 s of START SLAVE")
    if [ "${B[moved_ms]}" = never ]; then
        failures+=("reads did not come back to db2 after START SLAVE (${B[answered]})")
    elif [ -n "$back_after_caught" ] && [ "$back_after_caught" -gt "$DB_READ_MOVE_TARGET_MS" ]; then
        failures+=("reads came back to db2 $back_after_caught ms after it caught up (target ${DB_READ_MOVE_TARGET_MS} ms)")
    fi
    [ "${R[r.errors]}" = 0 ] || failures+=("${R[r.errors]} reads failed (${R[r.error_kinds]})")
    lab_verdict "${failures[@]}"
}
