# shellcheck shell=bash disable=SC2034  # TLS_PORTS, read fields: used by the sourcing script / unused on purpose
# The TLS bench of scripts/bench (`--tls`; sourced by it): the proxy
# terminates TLS (`bind ... ssl crt`, conf/bench/tls.cfg) in front of a
# plain backend, splicer and HAProxy side by side in one run. The load is
# benches/tlsload (rustls, one mio thread): it skips certificate checks and
# offers X25519 and AES-128-GCM only, so it costs less per handshake and
# per byte than the proxy it loads, and both proxies negotiate the same
# group and suite. Its backend (echo, discard, source) is the same binary.
#
# Per repetition and proxy (the order reversed on even repetitions):
#   hs_*    full handshakes/s, ECDSA P-256 and RSA-2048, TLS 1.3 and 1.2:
#           connect, handshake, 64-byte echo through the backend, close
#   res_*   the same resumed: TLS 1.3 ticket, TLS 1.2 ticket, TLS 1.2
#           session id (the `no-tls-tickets` bind)
#   bulk_*  Gbit/s over 1 and 4 sessions, up (to a discard backend) and
#           down (from a source backend)
#   lat_*   p50/p99 of a 64-byte echo on 8 established sessions (one ping
#           each per 10 ms), alone and while tlsload floods the RSA bind
#           with full TLS 1.3 handshakes (32 in flight)
# and, on a fresh proxy each, RSS per idle TLS session (TLS_IDLE sessions,
# each after its handshake and a 64-byte echo).

TLS_IDLE=2000
TLS_PORTS=(28401 28402 28403 28411 28412 28413 28414 28415)
# The load generator only: glibc's `rep movsb` copies are slow on this
# machine's AMD cores for rustls's 16 KiB record copies, and doubled the
# client's CPU per downloaded GB. The proxies run untouched.
TLSLOAD_ENV=(GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=4194304)

tls_setup() {
    log "building benches/tlsload (its own crate: rustls + aws-lc-rs)"
    local target
    target=$(dirname "$(dirname "$SPLICER")")
    cargo build --release --quiet --manifest-path "$ROOT/benches/tlsload/Cargo.toml" --target-dir "$target"
    TLSLOAD=$target/release/tlsload
    if [[ " ${VARIANTS[*]} " == *" splicer-ring "* ]]; then
        log "building splicer with the ring provider (--no-default-features --features ring)"
        cargo build --release --quiet --no-default-features --features ring --target-dir "$target/ring"
        SPLICER_RING=$target/ring/release/splicer
    fi

    export SPLICER_BENCH_TMP=$TMP
    tls_cert ecdsa ec -pkeyopt ec_paramgen_curve:prime256v1
    tls_cert rsa rsa -pkeyopt rsa_keygen_bits:2048

    env "${TLSLOAD_ENV[@]}" "$TLSLOAD" backend --echo 127.0.0.1:28401 --discard 127.0.0.1:28402 \
        --source 127.0.0.1:28403 --max-secs 7200 2>"$TMP/tlsload-backend.log" &
    PIDS+=($!)
    local p
    for p in 28401 28402 28403; do wait_port "$p"; done
}

# A self-signed certificate for localhost as both proxies read it: the
# certificate, then the key, in $TMP/NAME.pem.
tls_cert() { # NAME ALGORITHM [KEY OPTION...]
    local name=$1 alg=$2
    shift 2
    if ! openssl req -x509 -newkey "$alg" "$@" -nodes -days 2 -subj /CN=localhost \
            -addext subjectAltName=DNS:localhost -keyout "$TMP/$name.key" -out "$TMP/$name.crt" \
            >"$TMP/openssl.log" 2>&1; then
        cat "$TMP/openssl.log" >&2
        exit 1
    fi
    cat "$TMP/$name.crt" "$TMP/$name.key" >"$TMP/$name.pem"
}

# tlsload ARGS... with a deadline, its TSV line in $TMP/tls.out, stderr in
# $TMP/tls.err; prints the proxy's CPU % over the run.
tls_run() {
    local t0 c0 t1 c1 rc=0
    t0=$(date +%s.%N); c0=$(cpu_ns "$PROXY_PID")
    timeout "$((SECS + 60))" env "${TLSLOAD_ENV[@]}" "$TLSLOAD" "$@" >"$TMP/tls.out" 2>"$TMP/tls.err" || rc=$?
    t1=$(date +%s.%N); c1=$(cpu_ns "$PROXY_PID")
    [ "$rc" = 0 ] || echo "tlsload exited $rc" >>"$TMP/tls.err"
    awk -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f\n", 100 * c / 1e9 / (t1 - t0) }'
}

tls_failed() { # VARIANT METRIC REP: records a failed run
    record "$1" "$2" "$3" nan -
    echo "$1 $2 rep $3: $(tr '\n' ' ' <"$TMP/tls.err")" >>"$TMP/anomalies"
    log "  $1 $2 failed: $(tr '\n' ' ' <"$TMP/tls.err")"
}

# Handshakes: METRIC PORT KIND (full|resumed) TLSLOAD_OPTION...
tls_hs() {
    local v=$1 rep=$2 metric=$3 port=$4 kind=$5 cpu rate full resumed errors client
    shift 5
    cpu=$(tls_run hs "127.0.0.1:$port" --time "$SECS" "$@")
    if ! read -r rate full resumed errors client <"$TMP/tls.out" || [ -s "$TMP/tls.err" ]; then
        tls_failed "$v" "$metric" "$rep"
        return
    fi
    record "$v" "$metric" "$rep" "$rate" "$cpu"
    record "$v" "${metric}_client" "$rep" "$client" -
    log "  $v $metric: $rate/s ($full full, $resumed resumed, $errors errors; proxy cpu $cpu%, tlsload $client µs/hs)"
    if [ "$errors" != 0 ]; then echo "$v $metric rep $rep: $errors failed sessions" >>"$TMP/anomalies"; fi
    # A resumed run starts with one full handshake per slot; a full run never resumes.
    if [ "$kind" = resumed ] && [ $((resumed * 100)) -lt $(((full + resumed) * 95)) ]; then
        echo "$v $metric rep $rep: only $resumed of $((full + resumed)) handshakes resumed" >>"$TMP/anomalies"
    elif [ "$kind" = full ] && [ "$resumed" != 0 ]; then
        echo "$v $metric rep $rep: $resumed handshakes resumed in a full-handshake run" >>"$TMP/anomalies"
    fi
}

tls_bulk() { # VARIANT REP METRIC PORT DIR CONNS
    local v=$1 rep=$2 metric=$3 cpu gbps bytes secs errors client
    cpu=$(tls_run bulk "127.0.0.1:$4" --dir "$5" --conns "$6" --time "$SECS")
    if ! read -r gbps bytes secs errors client <"$TMP/tls.out" || [ -s "$TMP/tls.err" ]; then
        tls_failed "$v" "$metric" "$rep"
        return
    fi
    record "$v" "$metric" "$rep" "$gbps" "$cpu"
    record "$v" "${metric}_client" "$rep" "$client" -
    log "  $v $metric: $gbps Gbit/s (proxy cpu $cpu%, tlsload $client s/GB)"
}

# Echo latency on established sessions, alone and during a flood of full
# RSA handshakes (the longest piece of work a proxy does for one event).
tls_latency() { # VARIANT REP
    local v=$1 rep=$2 p50 p99 max n errors flood_pid cpu rc=0
    local lat=(latency 127.0.0.1:28411 --sessions 8 --interval-ms 10 --time "$SECS")
    timeout "$((SECS + 60))" env "${TLSLOAD_ENV[@]}" "$TLSLOAD" "${lat[@]}" >"$TMP/tls.out" 2>"$TMP/tls.err" || rc=$?
    if [ "$rc" != 0 ] || ! read -r p50 p99 max n errors <"$TMP/tls.out"; then
        tls_failed "$v" lat_base "$rep"
    else
        record "$v" lat_base_p50 "$rep" "$p50" -
        record "$v" lat_base_p99 "$rep" "$p99" -
        log "  $v latency alone: p50 $p50 µs, p99 $p99 µs, max $max µs ($n echoes)"
    fi

    timeout "$((SECS + 60))" env "${TLSLOAD_ENV[@]}" "$TLSLOAD" hs 127.0.0.1:28412 --time "$((SECS + 1))" \
        >"$TMP/flood.out" 2>"$TMP/flood.err" &
    flood_pid=$!
    sleep 0.5
    rc=0
    cpu=$(tls_run "${lat[@]}")
    wait "$flood_pid" || echo "flood: tlsload exited $?" >>"$TMP/flood.err"
    local rate full resumed ferr client
    if [ -s "$TMP/tls.err" ] || ! read -r p50 p99 max n errors <"$TMP/tls.out"; then
        tls_failed "$v" lat_flood "$rep"
    else
        record "$v" lat_flood_p50 "$rep" "$p50" -
        record "$v" lat_flood_p99 "$rep" "$p99" -
        read -r rate full resumed ferr client <"$TMP/flood.out" || rate=nan
        record "$v" flood "$rep" "$rate" "$cpu"
        log "  $v latency under a handshake flood ($rate RSA hs/s): p50 $p50 µs, p99 $p99 µs, max $max µs ($n echoes)"
    fi
    if [ -s "$TMP/flood.err" ]; then
        echo "$v flood rep $rep: $(tr '\n' ' ' <"$TMP/flood.err")" >>"$TMP/anomalies"
    fi
}

tls_variant() { # VARIANT REP
    local v=$1 rep=$2
    start_proxy "$v" "$ROOT/conf/bench/tls.cfg" "$TMP/$v-tls.log" 28411 28412 28413 28414 28415
    tls_hs "$v" "$rep" hs_ecdsa13 28411 full --tls 13
    tls_hs "$v" "$rep" hs_ecdsa12 28411 full --tls 12
    tls_hs "$v" "$rep" hs_rsa13 28412 full --tls 13
    tls_hs "$v" "$rep" hs_rsa12 28412 full --tls 12
    tls_hs "$v" "$rep" res_ticket13 28411 resumed --tls 13 --resume
    tls_hs "$v" "$rep" res_ticket12 28411 resumed --tls 12 --resume
    tls_hs "$v" "$rep" res_sessid12 28413 resumed --tls 12 --resume
    tls_bulk "$v" "$rep" bulk_up1 28414 up 1
    tls_bulk "$v" "$rep" bulk_up4 28414 up 4
    tls_bulk "$v" "$rep" bulk_down1 28415 down 1
    tls_bulk "$v" "$rep" bulk_down4 28415 down 4
    tls_latency "$v" "$rep"
    stop_proxy
}

tls_idle() { # VARIANT REP: on a fresh proxy
    local v=$1 rep=$2 out before after n per fdb fda
    start_proxy "$v" "$ROOT/conf/bench/tls.cfg" "$TMP/$v-tls.log" 28411
    if out=$(timeout 120 env "${TLSLOAD_ENV[@]}" "$TLSLOAD" idle 127.0.0.1:28411 --pid "$PROXY_PID" \
            --n "$TLS_IDLE" 2>&1); then
        read -r before after n per fdb fda <<<"$out"
        record "$v" rss_tls "$rep" "$per" -
        log "  $v rss_tls: $per B/session (VmRSS $before -> $after KiB, fds $fdb -> $fda)"
        echo "$v rss_tls rep $rep: VmRSS $before -> $after KiB, fds $fdb -> $fda" >>"$TMP/rss-details"
    else
        record "$v" rss_tls "$rep" nan -
        echo "$v rss_tls rep $rep: failed: $out" >>"$TMP/anomalies"
        log "  $v rss_tls failed: $out"
    fi
    stop_proxy
}

tls_bench() {
    tls_setup
    local variants=("${VARIANTS[@]}") rep i order
    log "tls: $REPS repetition(s) of ${SECS} s runs; variants: ${variants[*]}"
    for rep in $(seq "$REPS"); do
        order=$(seq 0 $((${#variants[@]} - 1)))
        [ $((rep % 2)) = 0 ] && order=$(seq $((${#variants[@]} - 1)) -1 0)
        for i in $order; do
            log "rep $rep/$REPS: ${variants[$i]}"
            tls_variant "${variants[$i]}" "$rep"
            sleep 1
        done
    done
    for rep in $(seq "$REPS"); do
        for i in "${!variants[@]}"; do
            log "rep $rep/$REPS: ${variants[$i]}, $TLS_IDLE idle TLS sessions"
            tls_idle "${variants[$i]}" "$rep"
        done
    done
    {
        echo
        python3 scripts/bench-helper.py tls-table "$RESULTS" "${variants[@]}"
        echo
        versions "$(haproxy -vv | sed -n 's/^Running on OpenSSL version : \(OpenSSL [^ ]*\).*/\1/p') under HAProxy" "tlsload (rustls $(tls_rustls_version "$ROOT/benches/tlsload/Cargo.lock"), aws-lc-rs)"
        echo "splicer: rustls $(tls_rustls_version "$ROOT/Cargo.lock") with aws-lc-rs (the default feature); splicer-ring: the same built with \`--no-default-features --features ring\`."
        echo "$REPS repetition(s) of ${SECS} s runs; tlsload: 32 handshakes in flight, X25519, AES-128-GCM; $TLS_IDLE idle sessions for RSS; nbthread 2."
    } >"$TMP/table.md"
    report "$TMP/table.md" bench-tls --tls
}

tls_rustls_version() { # CARGO_LOCK
    sed -n '/^name = "rustls"$/{n;s/^version = "\(.*\)"$/\1/p}' "$1"
}
