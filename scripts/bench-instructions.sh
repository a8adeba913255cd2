#!/usr/bin/env bash
# Instructions per call in the resource service, counted by callgrind: the
# figures in BENCHMARKS.md ("Where a reused-token call's extra cost goes").
# Instruction counts do not move with what else the host is doing, so they
# split a call's cost where throughput on a shared machine cannot.
#
# For each mode, the resource service runs under valgrind twice, serving
# 1,000 and then 5,000 calls; (run 2 - run 1) / 4,000 is one call, with
# start-up and setup cancelled out. Needs valgrind (callgrind_annotate).
#
#   scripts/bench-instructions.sh              # public and reuse
#   scripts/bench-instructions.sh fresh        # any modes of the load tool
#   scripts/bench-instructions.sh naive fresh  # `naive`: fresh tokens against the
#                                              # naive EdDSA server (the fresh-token baseline)
#   scripts/bench-instructions.sh bare public  # `bare`: public GetStatus on bare tonic
#                                              # (authpair-naive-eddsa --no-auth)
set -euo pipefail
cd "$(dirname "$0")/.."
MODES=("$@"); [ ${#MODES[@]} -gt 0 ] || MODES=(public reuse)
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }

. scripts/bench-common.sh

count() { # mode, calls
  local mode=$1 calls=$2 auth_port res_port secret admin=bench-admin:bench-admin-password
  auth_port=$(free_port); res_port=$(free_port)
  secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
  AUTH_BOOTSTRAP_ADMIN=$admin AUTH_BOOTSTRAP_SERVICE_ACCOUNT=resource-service:$secret AUTH_LOG=warn \
    AUTH_LOGIN_SOURCE_PER_SEC=1000000 AUTH_LOGIN_SOURCE_BURST=1000000 \
    "$BIN/auth-service" --listen 127.0.0.1:$auth_port --data-dir "$WORK/auth-$mode-$calls" 2>>"$WORK/auth.log" &
  local auth_pid=$!; PIDS+=("$auth_pid")
  local load_mode=$mode server=("$BIN/resource-service" --auth-url http://127.0.0.1:$auth_port --data-dir "$WORK/resource-$mode-$calls")
  if [ "$mode" = naive ]; then load_mode=fresh; server=("$BIN/authpair-naive-eddsa" --auth http://127.0.0.1:$auth_port); fi
  if [ "$mode" = bare ]; then load_mode=public; server=("$BIN/authpair-naive-eddsa" --no-auth); fi
  RESOURCE_CLIENT_SECRET=$secret RESOURCE_LOG=warn RESOURCE_PLAN_QUOTAS=free=1000000000,pro=1000000000 \
    valgrind --tool=callgrind --callgrind-out-file="$WORK/$mode.$calls.out" \
    "${server[@]}" --listen 127.0.0.1:$res_port 2>>"$WORK/resource.log" &
  local res_pid=$!; PIDS+=("$res_pid")
  AUTHPAIR_LOAD_ADMIN=$admin "$BIN/authpair-load" --auth http://127.0.0.1:$auth_port \
    --resource http://127.0.0.1:$res_port --wait-secs 180 --mode "$load_mode" --requests "$calls" \
    --connections 8 --streams 8 --fresh-tokens 6000 > /dev/null
  # SIGTERM: a graceful stop, after which callgrind writes its counts.
  kill "$res_pid"; wait "$res_pid" || true
  kill "$auth_pid"; wait "$auth_pid" 2>/dev/null || true
}

for mode in "${MODES[@]}"; do
  echo "== $mode: 1,000 and 5,000 calls under callgrind"
  count "$mode" 1000
  count "$mode" 5000
done

python3 - "$WORK" "${MODES[@]}" <<'PY'
import collections, re, subprocess, sys
work, modes = sys.argv[1], sys.argv[2:]
# Work done once per process cancels between the two runs, except where how
# much of it there is varies from one start to the next. One such kind is
# taken out of the counts, with everything it calls: once_cell initializers.
# The rate limiter's clock (quanta) calibrates itself against the wall clock
# on first use, millions of instructions more or less under valgrind (about
# 700 a call in the difference). (The Ed25519 key's table is built once per
# process, in claims/src/ed25519.rs, so it cancels like any other start-up
# work.)
ONCE = ("once_cell::imp::OnceCell<T>::initialize::{{closure}}",)
def functions(path):
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--tree=calling", path],
                         capture_output=True, text=True).stdout
    total, per, in_once = 0, collections.Counter(), False
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+PROGRAM TOTALS", line)
        if m: total = int(m[1].replace(",", ""))
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\*|>)?\s*\S.*?:(.*?) [\[(]", line)
        if not m: continue
        cost, mark, name = int(m[1].replace(",", "")), m[2], m[3]
        if mark == "*":  # a function's own cost
            in_once = name in ONCE
            if in_once: total -= cost
            else: per[name[:100]] += cost
        elif mark == ">" and in_once:  # called from one of them: its whole cost
            per[name[:100]] -= cost
            total -= cost
    return total, per
calls = {}
for mode in modes:
    (t1, f1), (t5, f5) = functions(f"{work}/{mode}.1000.out"), functions(f"{work}/{mode}.5000.out")
    calls[mode] = ((t5 - t1) / 4000, {k: (f5[k] - f1[k]) / 4000 for k in set(f1) | set(f5)})
    print(f"{mode:>8}: {calls[mode][0]:,.0f} instructions per call")
base = modes[0]
for mode in modes[1:]:
    print(f"\n{mode} - {base}: {calls[mode][0] - calls[base][0]:+,.0f} per call; the functions that differ most:")
    a, b = calls[base][1], calls[mode][1]
    diff = sorted(((b.get(k, 0) - a.get(k, 0), k) for k in set(a) | set(b)), reverse=True)
    for d, k in diff[:15]:
        print(f"  {d:+9,.0f}  {k}")
PY
