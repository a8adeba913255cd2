#!/usr/bin/env bash
# Soak: runs the two services from release binaries for SECONDS (default
# 600) under the load tool's `mixed` mode (calls with a reused token, and
# beside them logins, calls with fresh tokens, refreshes, Logout and
# RevokeUserSessions with the time until each revoked token is refused, and
# searches past a free plan's quota), sampling each service's resident
# memory and open file descriptors every 10 s.
#
#   scripts/soak.sh [SECONDS]                     # SQLite, one of each
#   SOAK_BACKEND=postgres scripts/soak.sh [SECONDS] # PostgreSQL + Redis, two of each
#
# It fails if any call ends in a status its step does not expect, if a
# revocation takes longer than 1 s (both judged by the load tool), if the
# free plan's searches get more than its quota allows (the quota is shared
# across instances through Redis), or if a service's RSS at the end is more
# than 10% above its RSS after the first minute.
#
# Each load tool makes SOAK_RATE (default 5000) reused-token calls a second
# on SOAK_STREAMS (default 2) streams: a steady load, not the machine's
# saturation, which would starve the databases the side traffic needs.
#
# The resource service's verified-token cache is bounded (16 MiB by default)
# and fills for longer than a soak lasts, which would read as growth; the
# soak gives it SOAK_TOKEN_CACHE_BYTES (default 64 KiB, a few dozen tokens),
# full within the first minute, so what grows after it is not a bounded
# cache filling up.
#
# postgres: DATABASE_URL names a server where the script may drop and create
# the database `authpair_soak` (default postgres://postgres@127.0.0.1:5432/test; its database is not used);
# REDIS_URL (default redis://127.0.0.1:6379) is used under a key prefix of
# its own. The figures and the samples (samples.csv) are left in SOAK_OUT
# (default target/soak/<backend>).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TO_RUN=${1:-600}
BACKEND=${SOAK_BACKEND:-sqlite}
SAMPLE_EVERY=10
# The default plan quotas: a free plan searches 10 times a minute.
FREE_SEARCHES=10
QUOTA_WINDOW=60

case "$BACKEND" in
  sqlite) INSTANCES=1 ;;
  postgres) INSTANCES=2 ;;
  *) echo "SOAK_BACKEND must be sqlite or postgres, not $BACKEND" >&2; exit 2 ;;
esac

source scripts/bench-common.sh
OUT=${SOAK_OUT:-$(dirname "$BIN")/soak/$BACKEND}
rm -rf "$OUT"; mkdir -p "$OUT"
random() { head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }

ADMIN=soak-admin:$(random)
SECRET=$(random)
# The reused token must outlive the run: access tokens live the run and five
# minutes, and the resource service accepts that lifetime.
TTL=$(( SECONDS_TO_RUN + 300 > 900 ? SECONDS_TO_RUN + 300 : 900 ))
COMMON_AUTH=(--http-listen off --metrics-listen off --access-token-ttl-secs "$TTL")
COMMON_RESOURCE=(--metrics-listen off --max-token-lifetime-secs "$TTL" --token-cache-bytes "${SOAK_TOKEN_CACHE_BYTES:-65536}")
if [ "$BACKEND" = postgres ]; then
  # DATABASE_URL's server, without its database.
  SERVER_URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(f"{p.scheme}://{p.netloc}")' \
    "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}")
  psql "$SERVER_URL/postgres" -qc 'DROP DATABASE IF EXISTS authpair_soak' -c 'CREATE DATABASE authpair_soak'
  export AUTH_DATABASE_URL=$SERVER_URL/authpair_soak RESOURCE_DATABASE_URL=$SERVER_URL/authpair_soak
  export AUTH_REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379} RESOURCE_REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
  AUTH_REDIS_PREFIX=soak-$(random); export AUTH_REDIS_PREFIX RESOURCE_REDIS_PREFIX=$AUTH_REDIS_PREFIX
fi

# Waits until both services' health says SERVING (no call is made).
wait_serving() { "$BIN/authpair-load" --mode public --auth "$1" --resource "$2" --requests 0 --connections 1 --streams 1 --wait-secs 60 >/dev/null; }

AUTH_URLS=(); RES_URLS=(); SERVICES=()
for i in $(seq 1 "$INSTANCES"); do
  port=$(free_port)
  AUTH_BOOTSTRAP_ADMIN=$ADMIN AUTH_BOOTSTRAP_SERVICE_ACCOUNT=resource-service:$SECRET AUTH_LOG=warn \
    "$BIN/auth-service" --listen "127.0.0.1:$port" --data-dir "$WORK/auth-$i" "${COMMON_AUTH[@]}" \
    2>>"$OUT/auth-$i.log" &
  PIDS+=("$!"); SERVICES+=("auth-$i:$!")
  AUTH_URLS+=("http://127.0.0.1:$port")
  # One instance at a time: the first creates the schema and the first key.
  wait_serving "http://127.0.0.1:$port" "http://127.0.0.1:$port"
done
for i in $(seq 1 "$INSTANCES"); do
  port=$(free_port)
  # Each resource instance follows its own auth instance first, the other
  # one on failover.
  urls=${AUTH_URLS[$(( i - 1 ))]}
  for j in $(seq 1 "$INSTANCES"); do [ "$j" != "$i" ] && urls=$urls,${AUTH_URLS[$(( j - 1 ))]}; done
  RESOURCE_CLIENT_SECRET=$SECRET RESOURCE_LOG=warn \
    "$BIN/resource-service" --listen "127.0.0.1:$port" --auth-url "$urls" --data-dir "$WORK/resource-$i" \
    "${COMMON_RESOURCE[@]}" 2>>"$OUT/resource-$i.log" &
  PIDS+=("$!"); SERVICES+=("resource-$i:$!")
  RES_URLS+=("http://127.0.0.1:$port")
done
for i in $(seq 1 "$INSTANCES"); do wait_serving "${AUTH_URLS[$(( i - 1 ))]}" "${RES_URLS[$(( i - 1 ))]}"; done

echo "== soak: $BACKEND, $INSTANCES instance(s) of each service, ${SECONDS_TO_RUN}s"
echo "elapsed_s,service,pid,rss_kib,fds" > "$OUT/samples.csv"
sample() {
  local started=$1
  while true; do
    local now=$(( $(date +%s) - started ))
    for entry in "${SERVICES[@]}"; do
      name=${entry%%:*}; pid=${entry##*:}
      rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
      echo "$now,$name,$pid,$rss,$fds" >> "$OUT/samples.csv"
    done
    sleep "$SAMPLE_EVERY"
  done
}
sample "$(date +%s)" &
SAMPLER=$!; PIDS+=("$SAMPLER")

# One load tool per auth/resource pair, each crossing to the other pair's
# resource service when there are two, so a revocation made at one auth
# instance is judged at a resource instance that follows the other.
LOADS=()
status=0
for i in $(seq 1 "$INSTANCES"); do
  auth=${AUTH_URLS[$(( i - 1 ))]}
  res=${RES_URLS[$(( i % INSTANCES ))]}
  AUTHPAIR_LOAD_ADMIN=$ADMIN "$BIN/authpair-load" --mode mixed --auth "$auth" --resource "$res" \
    --connections 1 --streams "${SOAK_STREAMS:-2}" --rate "${SOAK_RATE:-5000}" --duration-secs "$SECONDS_TO_RUN" --json "$OUT/load-$i.json" \
    > "$OUT/load-$i.txt" 2>&1 &
  LOADS+=("$!")
done
for pid in "${LOADS[@]}"; do wait "$pid" || status=1; done
kill "$SAMPLER" 2>/dev/null || true
for i in $(seq 1 "$INSTANCES"); do cat "$OUT/load-$i.txt"; done
for entry in "${SERVICES[@]}"; do
  kill -0 "${entry##*:}" 2>/dev/null || { echo "FAIL: ${entry%%:*} is no longer running (see $OUT)"; status=1; }
done

python3 - "$OUT" "$SECONDS_TO_RUN" "$FREE_SEARCHES" "$QUOTA_WINDOW" <<'PY' || status=1
import csv, glob, json, sys
out, seconds, quota, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
failed = []
reports = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/load-*.json"))]
if not reports:
    failed.append("no load tool report")
calls = sum(r["calls"] for r in reports)
side = {}
for r in reports:
    for step, n in (r.get("side_statuses") or {}).items():
        side[step] = side.get(step, 0) + n
    for step, n in r["unexpected"].items():
        failed.append(f"unexpected: {step} x{n}")
print(f"\n== summary: {calls} reused-token calls, {sum(side.values())} side calls")
for step, n in sorted(side.items()):
    print(f"  {step}: {n}")
for i, r in enumerate(reports, 1):
    p = r.get("revocation_propagation") or {}
    print(f"  load {i}: {r['calls_per_sec']:.0f} calls/s; revocations {p.get('count', 0)}: "
          f"p50 {p.get('p50_ms', 0):.1f} ms, p99 {p.get('p99_ms', 0):.1f} ms, max {p.get('max_ms', 0):.1f} ms")
allowed = quota + quota * seconds // window + 1
searched = side.get("Search Ok", 0)
print(f"  free-plan searches allowed: {searched} (at most {allowed})")
if searched > allowed:
    failed.append(f"{searched} searches allowed, the quota admits {allowed}")
if side.get("Search ResourceExhausted", 0) == 0 and seconds >= window:
    failed.append("no search was refused: the quota did not apply")

samples = {}
for row in csv.DictReader(open(f"{out}/samples.csv")):
    samples.setdefault(row["service"], []).append((int(row["elapsed_s"]), int(row["rss_kib"]), int(row["fds"])))
print("  service      RSS MiB at 1 min / end / max      fds min / max")
for name, rows in sorted(samples.items()):
    after = [r for r in rows if r[0] >= 60] or rows
    base, end = after[0][1], rows[-1][1]
    peak = max(r[1] for r in rows)
    fds = [r[2] for r in rows]
    growth = end / base if base else 0
    print(f"  {name:<12} {base/1024:7.1f} / {end/1024:7.1f} / {peak/1024:7.1f} ({growth - 1:+.1%})   {min(fds)} / {max(fds)}")
    if seconds >= 120 and growth > 1.10:
        failed.append(f"{name}: RSS grew {growth - 1:.1%} after the first minute")
for f in failed:
    print("FAIL:", f)
sys.exit(1 if failed else 0)
PY
echo "samples and reports: $OUT"
[ "$status" = 0 ] && echo "soak: passed" || echo "soak: FAILED"
exit "$status"
