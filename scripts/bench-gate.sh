#!/usr/bin/env bash
# authpair-gate's Check under h2load, beside the resource service's own
# reused-token call in the same run: the shipped (dist) builds, servers
# pinned to one core and h2load to the other when the machine has two.
#
#   check     Envoy's Check (a framed CheckRequest: GET /v1/items/1 on an
#             HTTP route, with one reused token), on the gate
#   profile   GetMyProfile with the same token, on the resource service
#   public    GetStatus without a token, on the resource service
#
# Five interleaved rounds, 64 connections x 10 streams after a 2 s warm-up.
# Every case is first called once and must be allowed (grpc-status 0, and
# for Check a CheckResponse with status OK), and again after the last round.
# Needs xds-protos and grpcio (tests/gate/requirements.txt) to build the
# CheckRequest and read the answer.
#
#   scripts/bench-gate.sh             # DURATION=10 seconds per run
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
if [ "$(nproc)" -ge 2 ]; then SERVER="taskset -c 0"; LOAD="taskset -c 1"; else SERVER=""; LOAD=""; fi

. scripts/bench-common.sh
cargo build --profile dist -q -p authpair-gate

AUTH_PORT=$(free_port); RES_PORT=$(free_port); GATE_PORT=$(free_port)
SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
AUTH_BOOTSTRAP_ADMIN=bench-admin:bench-admin-password AUTH_BOOTSTRAP_SERVICE_ACCOUNT=resource-service:$SECRET AUTH_LOG=warn \
  $SERVER "$BIN/auth-service" --listen 127.0.0.1:$AUTH_PORT --data-dir "$WORK/auth" 2>>"$WORK/auth.log" &
PIDS+=("$!")
RESOURCE_CLIENT_SECRET=$SECRET RESOURCE_LOG=warn \
  $SERVER "$BIN/resource-service" --listen 127.0.0.1:$RES_PORT --auth-url http://127.0.0.1:$AUTH_PORT \
  --data-dir "$WORK/resource" 2>>"$WORK/resource.log" &
PIDS+=("$!")
cat > "$WORK/routes.toml" <<'TOML'
[[route]]
name = "web"
audience = "authpair"

[[route.rule]]
method = "GET"
path = "/v1/items/*"
access = "authenticated"
principal = "user"
scopes = ["profile"]
TOML
# The gate follows the feed as the resource service's account.
GATE_CLIENT_ID=resource-service GATE_CLIENT_SECRET=$SECRET GATE_LOG=warn GATE_METRICS_LISTEN=off \
  $SERVER "$BIN/authpair-gate" --listen 127.0.0.1:$GATE_PORT --auth-url http://127.0.0.1:$AUTH_PORT \
  --routes "$WORK/routes.toml" 2>>"$WORK/gate.log" &
PIDS+=("$!")

printf '\0\0\0\0\0' > "$WORK/empty.grpc"
GET_STATUS=/resource.v1.ResourceService/GetStatus
GET_MY_PROFILE=/resource.v1.ResourceService/GetMyProfile
CHECK=/envoy.service.auth.v3.Authorization/Check
for _ in $(seq 300); do
  [ "$(grpc_call "$RES_PORT" $GET_STATUS "$WORK/empty.grpc")" = 0 ] && break; sleep 0.1
done

# The admin's token for the default audience, then the CheckRequest carrying it.
python3 - "$WORK" <<'PY'
import sys
field = lambda n, v: bytes([n << 3 | 2, len(v)]) + v
message = field(1, b"bench-admin") + field(2, b"bench-admin-password")
open(sys.argv[1] + "/login.grpc", "wb").write(b"\0" + len(message).to_bytes(4, "big") + message)
PY
[ "$(grpc_call "$AUTH_PORT" /auth.v1.AuthService/Login "$WORK/login.grpc")" = 0 ] || { echo "login failed" >&2; exit 1; }
python3 - "$WORK" <<'PY'
import sys
from envoy.service.auth.v3 import attribute_context_pb2 as ac, external_auth_pb2 as ea
work = sys.argv[1]
data = open(work + "/grpc-body.bin", "rb").read()[5:]
def varint(i):
    n = shift = 0
    while True:
        n |= (data[i] & 0x7F) << shift; shift += 7; i += 1
        if data[i - 1] < 0x80: return n, i
i = 0
token = None
while i < len(data) and token is None:
    key, i = varint(i)
    if key & 7 == 0: _, i = varint(i); continue
    size, i = varint(i)
    if key >> 3 == 1: token = data[i:i + size].decode()
    i += size
http = ac.AttributeContext.HttpRequest(method="GET", path="/v1/items/1", headers={
    "authorization": "Bearer " + token, ":authority": "api.example.com", "user-agent": "bench",
    "x-request-id": "0f8e3c1a-5b7d-4e2f-9a61-3c2b1d0e4f5a", "accept": "application/json"})
request = ea.CheckRequest(attributes=ac.AttributeContext(
    request=ac.AttributeContext.Request(http=http), context_extensions={"authpair_route": "web"}))
message = request.SerializeToString()
open(work + "/check.grpc", "wb").write(b"\0" + len(message).to_bytes(4, "big") + message)
open(work + "/token", "w").write(token)
print(f"    the token: {len(token)} characters; the CheckRequest: {len(message)} bytes")
PY
TOKEN=$(cat "$WORK/token")
(umask 077; echo "authorization: Bearer $TOKEN" > "$WORK/authorization.txt")

allowed() { # the gate's answer in grpc-body.bin must be a CheckResponse with status OK
  python3 - "$WORK/grpc-body.bin" <<'PY'
import sys
from envoy.service.auth.v3 import external_auth_pb2 as ea
response = ea.CheckResponse.FromString(open(sys.argv[1], "rb").read()[5:])
sys.exit(0 if response.status.code == 0 and response.HasField("ok_response") else f"denied: {response.status}")
PY
}
check_all() {
  for _ in $(seq 300); do [ "$(grpc_call "$GATE_PORT" $CHECK "$WORK/check.grpc")" = 0 ] && allowed 2>/dev/null && break; sleep 0.1; done
  [ "$(grpc_call "$GATE_PORT" $CHECK "$WORK/check.grpc")" = 0 ] && allowed || { echo "the gate does not allow the check" >&2; exit 1; }
  [ "$(grpc_call "$RES_PORT" $GET_MY_PROFILE "$WORK/empty.grpc" -H "@$WORK/authorization.txt")" = 0 ] \
    || { echo "GetMyProfile failed" >&2; exit 1; }
}
check_all

h2_case() { # case; prints "port path body with-token"
  case $1 in
    check) echo "$GATE_PORT $CHECK check.grpc" ;;
    profile) echo "$RES_PORT $GET_MY_PROFILE empty.grpc token" ;;
    public) echo "$RES_PORT $GET_STATUS empty.grpc" ;;
  esac
}
mkdir -p "$WORK/h2"
echo "== h2load: Check on the gate, GetMyProfile and GetStatus on the resource service; interleaved, 5 rounds"
for round in 1 2 3 4 5; do
  for c in check profile public; do
    read -r port path body token <<< "$(h2_case "$c")"
    flags=(); [ -n "$token" ] && flags=(-H "authorization: Bearer $TOKEN")
    $LOAD h2load -t 1 -c 64 -m 10 -D "$DURATION" --warm-up-time=2 \
      -H 'content-type: application/grpc' -H 'te: trailers' "${flags[@]}" -d "$WORK/$body" \
      --log-file="$WORK/h2/$c-$round.log" "http://127.0.0.1:$port$path" > "$WORK/h2/$c-$round.txt" 2>&1 \
      || { cat "$WORK/h2/$c-$round.txt"; exit 1; }
    python3 scripts/h2load-summary.py "$WORK/h2/$c-$round" "$DURATION" || { cat "$WORK/h2/$c-$round.txt"; exit 1; }
    rm -f "$WORK/h2/$c-$round.log"
  done
done
# Still allowed at the end (a denied Check is a gRPC OK too).
check_all
python3 - "$WORK/h2" <<'PY'
import json, statistics, sys
runs = lambda c: [json.load(open(f"{sys.argv[1]}/{c}-{r}.json")) for r in range(1, 6)]
rate = {c: statistics.mean(x["calls_per_sec"] for x in runs(c)) for c in ("check", "profile", "public")}
p99 = {c: statistics.median(x["p99_ms"] for x in runs(c)) for c in ("check", "profile", "public")}
for c in rate:
    print(f"{c:<8} mean {rate[c]:>9.0f} calls/s   median p99 {p99[c]:.3f} ms")
print(f"Check / reused-token GetMyProfile: {rate['check'] / rate['profile']:.3f} (throughput), "
      f"{p99['check'] / p99['profile']:.3f} (p99)")
print(f"Check / public GetStatus: {rate['check'] / rate['public']:.3f}")
PY
