#!/usr/bin/env bash
# bench/run.sh: the example app's authenticated routes under load, one command.
#
#   bench/run.sh                 # SQLite (a fresh file), every route
#   bench/run.sh --postgres      # a fresh PostgreSQL database on $BENCH_PG (default
#                                #   postgres://postgres@127.0.0.1:5432), dropped after
#   bench/run.sh --many-tokens   # also: Token with 1 000 and 1 000 000 tokens in the table,
#                                #   and RSS after 1 M requests over 100 000 distinct tokens
#
# Builds example-app in release mode, starts it on a free loopback port with a fresh
# database, creates its fixtures with the CLI (a user, an API token, a JWT, a session, an
# OAuth2 client-credentials token), and runs wrk (-t2 -c32 -d10s by default) on each route,
# printing one line per route: req/s, p50 and p99 latency (ms), non-2xx responses.
# Knobs: WRK_THREADS (2) WRK_CONNS (32) WRK_DURATION (10s) CASES (all of: health
# notfound anon basic token session jwt oauth2) AUTH_CACHE_TTL (5; 0 turns the principal
# cache off) AUTH_CACHE_BASIC_TTL (0; the opt-in Basic credential cache).
# For the ratio against the hand-written server, see README ("Benchmarks").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/bench"
BACKEND=sqlite
MANY=0
for arg in "$@"; do
  case "$arg" in
    --postgres) BACKEND=postgres ;;
    --many-tokens) MANY=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument $arg" >&2; exit 2 ;;
  esac
done
THREADS="${WRK_THREADS:-2}" CONNS="${WRK_CONNS:-32}" DURATION="${WRK_DURATION:-10s}"
CASES="${CASES:-health notfound anon basic token session jwt oauth2}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } >&2
cargo build --release -q -p example-app --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/release/example-app"
TMP="$(mktemp -d -t authbench.XXXXXX)"
PID=""
PGDB=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  [ -n "$PGDB" ] && psql "${BENCH_PG:-postgres://postgres@127.0.0.1:5432}/postgres" -qc "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

if [ "$BACKEND" = postgres ]; then
  PGDB="authbench_$$"
  psql "${BENCH_PG:-postgres://postgres@127.0.0.1:5432}/postgres" -qc "CREATE DATABASE $PGDB" >/dev/null
  export DATABASE_URL="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}/$PGDB"
else
  export DATABASE_URL="sqlite://$TMP/bench.sqlite3?mode=rwc"
fi
export AUTH_SECRET_KEY="bench-secret-key-0123456789abcdef0123456789"
unset AUTH_THROTTLE_ANON AUTH_THROTTLE_USER AUTH_LOGIN_FAILURES
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

start() {
  (cd "$TMP" && exec "$BIN" serve --bind "127.0.0.1:$PORT" >>"$TMP/server.log" 2>&1) & PID=$!
  for _ in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/health")" = 200 ] && return 0
    sleep 0.2
  done
  echo "the server did not come up; log:" >&2; cat "$TMP/server.log" >&2; exit 1
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }

"$BIN" migrate >/dev/null
printf '%s\n' bench-pass-123 | "$BIN" create-user bench --password-stdin 2>/dev/null
start
TOKEN="$("$BIN" create-token bench)"
BASIC="$(printf 'bench:bench-pass-123' | base64 | tr -d '\n')"
CREDS='{"username": "bench", "password": "bench-pass-123"}'
JWT="$(curl -s -X POST "$BASE/api/auth/jwt/create" -H 'Content-Type: application/json' -d "$CREDS" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access"])')"
JAR="$TMP/jar"
CSRF="$(curl -s -c "$JAR" "$BASE/api/auth/csrf" | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf_token"])')"
curl -s -o /dev/null -b "$JAR" -c "$JAR" -X POST "$BASE/api/auth/login" -H 'Content-Type: application/json' \
  -H "X-CSRFToken: $CSRF" -d "$CREDS"
SESSION="$(awk '$6 == "sessionid" {print "sessionid=" $7}' "$JAR")"
CLIENT="$("$BIN" create-client bench-service --grant client-credentials)"
CID="$(printf '%s' "$CLIENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')"
CSECRET="$(printf '%s' "$CLIENT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')"
OAUTH="$(curl -s -u "$CID:$CSECRET" -d grant_type=client_credentials "$BASE/o/token" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

run_case() { # name path [header]
  local name="$1" path="$2" out line
  shift 2
  out="$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 10s --latency -s "$HERE/report.lua" "$@" "$BASE$path" 2>&1)"
  line="$(printf '%s\n' "$out" | sed -n 's/^RESULT //p')"
  [ -n "$line" ] || { echo "$name: wrk failed: $out" >&2; return 0; }
  read -r rps p50 p99 non2xx total sockerr <<<"$line"
  printf '%-14s %10s %8s %8s %8s\n' "$name" "$rps" "$p50" "$p99" "$non2xx"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $BACKEND, $(nproc) cores, wrk -t$THREADS -c$CONNS -d$DURATION, cache ttl ${AUTH_CACHE_TTL:-5}s"
printf '%-14s %10s %8s %8s %8s\n' route req_per_s p50_ms p99_ms non2xx
for c in $CASES; do
  case "$c" in
    health)   run_case health /api/health ;;
    notfound) run_case notfound /api/nothing-here ;;
    anon)     run_case anon-401 /api/whoami ;;
    basic)    run_case basic /api/basic/whoami -H "Authorization: Basic $BASIC" ;;
    token)    run_case token /api/token/whoami -H "Authorization: Token $TOKEN" ;;
    session)  run_case session /api/session/whoami -H "Cookie: $SESSION" ;;
    jwt)      run_case jwt /api/jwt/whoami -H "Authorization: Bearer $JWT" ;;
    oauth2)   run_case oauth2 /api/oauth2/whoami -H "Authorization: Bearer $OAUTH" ;;
    *) echo "unknown case $c" >&2 ;;
  esac
done
echo "# RSS after the runs: $(rss_kb) KiB"

if [ "$MANY" = 1 ]; then
  python3 "$HERE/tokens.py" "$DATABASE_URL" bench 1000 "$TMP/keys-1k"
  KEYS_FILE="$TMP/keys-1k" run_case token-1k-keys /api/token/whoami
  python3 "$HERE/tokens.py" "$DATABASE_URL" bench 999000 "$TMP/keys-rest" 100000
  head -n 1000 "$TMP/keys-rest" > "$TMP/keys-1m-sample"
  KEYS_FILE="$TMP/keys-1m-sample" run_case token-1m-table /api/token/whoami
  head -n 100000 "$TMP/keys-rest" > "$TMP/keys-100k"
  before="$(rss_kb)"
  # About 1 000 000 requests (the count is printed) over 100 000 distinct tokens.
  KEYS_FILE="$TMP/keys-100k" wrk -t"$THREADS" -c"$CONNS" -d"${RSS_DURATION:-60s}" --timeout 10s -s "$HERE/report.lua" \
    "$BASE/api/token/whoami" >"$TMP/rss-run.txt" 2>&1 &
  WRK=$!
  while kill -0 "$WRK" 2>/dev/null; do sleep 2; done
  echo "# RSS before/after $(sed -n 's/^RESULT [^ ]* [^ ]* [^ ]* [^ ]* \([0-9]*\).*/\1/p' "$TMP/rss-run.txt") requests over 100000 tokens: $before KiB / $(rss_kb) KiB"
fi
