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
