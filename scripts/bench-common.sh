# Sourced by the bench scripts: the shipped (dist profile) binaries, a scratch directory, and
# cleanup of every process a script starts (append its pid to PIDS).
cargo build --profile dist -q -p auth-service -p resource-service -p authpair-load
BIN=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/dist
WORK=$(mktemp -d)
PIDS=()
# The auth service seals its signing keys with a master key, owner-only.
(umask 077; head -c 32 /dev/urandom | base64 > "$WORK/master.key")
export AUTH_MASTER_KEY_FILE=$WORK/master.key
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# One gRPC call with curl (HTTP/2, prior knowledge): port, path, a file
# holding the framed request, more curl flags. Prints the call's
# grpc-status ("none" without one); the answer's body is left in
# $WORK/grpc-body.bin. h2load sees HTTP statuses only, so the bench scripts
# call each case once this way first.
grpc_call() { # port, path, request file, curl flags; prints the call's grpc-status
  local port=$1 path=$2 body=$3; shift 3
  rm -f "$WORK/grpc-headers.txt"
  curl -sS --http2-prior-knowledge -H 'content-type: application/grpc' -H 'te: trailers' "$@" \
    --data-binary "@$body" -D "$WORK/grpc-headers.txt" -o "$WORK/grpc-body.bin" "http://127.0.0.1:$port$path" 2>/dev/null || true
  [ -f "$WORK/grpc-headers.txt" ] || { echo "none"; return 0; }
  tr -d '\r' < "$WORK/grpc-headers.txt" | awk -F': ' 'tolower($1) == "grpc-status" { s = $2 } END { print (s == "" ? "none" : s) }'
}
