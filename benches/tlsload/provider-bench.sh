#!/usr/bin/env bash
# rustls's crypto providers compared in-process (src/bin/tls-provider.rs):
# builds tls-provider with aws-lc-rs and with ring, makes a CA and ECDSA
# P-256 / RSA-2048 certificates with openssl, runs the two builds in turn
# REPS times (a drift of the machine weighs on both alike) and prints the
# median of each case, with the spread.
#
# usage: benches/tlsload/provider-bench.sh [REPS [SECONDS_PER_CASE]]
#        (defaults 5 and 0.5: about 4 minutes, plus ~1 minute of builds)
set -euo pipefail
cd "$(dirname "$0")"
REPS=${1:-5}
SECS=${2:-0.5}
TARGET=${CARGO_TARGET_DIR:-$PWD/../../target}
TMP=$(mktemp -d /tmp/tls-provider.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

for p in aws ring; do
    start=$(date +%s)
    cargo build --release --quiet --bin tls-provider --no-default-features --features "$p" \
        --target-dir "$TARGET/tls-provider-$p"
    echo "built with $p in $(($(date +%s) - start)) s (incremental if built before)" >&2
done

c=$TMP/certs
mkdir -p "$c"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=bench-ca -keyout "$c/ca.key" -out "$c/ca.pem" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$c/ext.cnf"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$c/ecdsa.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$c/rsa.key" 2>/dev/null
for k in ecdsa rsa; do
    openssl req -new -key "$c/$k.key" -subj /CN=localhost |
        openssl x509 -req -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial -days 2 \
            -extfile "$c/ext.cnf" -out "$c/$k.pem" 2>/dev/null
done

for i in $(seq "$REPS"); do
    for p in aws ring; do
        echo "run $i/$REPS: $p" >&2
        timeout 300 "$TARGET/tls-provider-$p/release/tls-provider" "$c" "$SECS" >>"$TMP/results.tsv"
    done
done

python3 - "$TMP/results.tsv" <<'PY'
import statistics, sys
rows, order, unit = {}, [], {}
for line in open(sys.argv[1]):
    p, case, v, u = line.rstrip("\n").split("\t")
    if case not in order:
        order.append(case)
    rows.setdefault((case, p), []).append(float(v))
    unit[case] = u
print("| case | unit | aws-lc-rs | ring | aws-lc-rs / ring | aws-lc-rs runs | ring runs |")
print("|---|---|---:|---:|---:|---|---|")
for case in order:
    a, r = rows.get((case, "aws-lc-rs"), []), rows.get((case, "ring"), [])
    if not a or not r:
        continue
    ma, mr = statistics.median(a), statistics.median(r)
    f = "{:,.0f}" if ma > 100 else "{:.2f}"
    span = lambda xs: f"{f.format(min(xs))}–{f.format(max(xs))}"
    print(f"| {case} | {unit[case]} | {f.format(ma)} | {f.format(mr)} | {ma / mr:.2f} | {span(a)} | {span(r)} |")
PY
