#!/usr/bin/env bash
# Smoke test for fhir-peer.mjs. Needs node + curl and `npm ci --prefix tests/peers` done.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TMP="$(mktemp -d)"
TOKEN=smoke-token
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

node "$HERE/fhir-peer.mjs" --port 0 --token "$TOKEN" --log "$TMP/log.jsonl" >"$TMP/out" 2>"$TMP/err" &
PID=$!
for _ in $(seq 1 300); do grep -q '^listening ' "$TMP/out" && break; sleep 0.1; done
PORT="$(sed -n 's/^listening //p' "$TMP/out")"
[ -n "$PORT" ] || { echo "peer did not start"; cat "$TMP/err"; exit 1; }
ROOT="http://127.0.0.1:$PORT"; B="$ROOT/fhir/R4"
AUTH=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/fhir+json')

fail() { echo "FAIL: $*"; echo "--- log"; cat "$TMP/log.jsonl"; exit 1; }
expect() { # expect CODE DESCRIPTION curl-args...
  local want="$1" what="$2"; shift 2
  local got; got="$(curl -s -o "$TMP/body" -w '%{http_code}' "$@")"
  [ "$got" = "$want" ] || fail "$what: want $want got $got: $(cat "$TMP/body")"
  echo "ok  $what ($got)"
}
count() { curl -s "$ROOT/_count/$1" | sed 's/[^0-9]//g'; }

expect 401 "no token" "$B/Binary/b1"
BIN='{"resourceType":"Binary","id":"b1","contentType":"application/pdf","data":"JVBERi0xLjQK"}'
expect 201 "PUT Binary (create)" "${AUTH[@]}" -X PUT "$B/Binary/b1" -d "$BIN"
expect 200 "PUT Binary (update)" "${AUTH[@]}" -X PUT "$B/Binary/b1" -d "$BIN"
[ "$(count Binary)" = 1 ] || fail "Binary count"

DR='{"resourceType":"DocumentReference","status":"current","masterIdentifier":{"system":"urn:him:doc","value":"d-1"},"content":[{"attachment":{"contentType":"application/pdf","url":"Binary/b1"}}]}'
INE=(-H 'If-None-Exist: identifier=urn:him:doc|d-1')
expect 201 "conditional POST (create)" "${AUTH[@]}" "${INE[@]}" -X POST "$B/DocumentReference" -d "$DR"
ID="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).id)' "$TMP/body")"
expect 200 "conditional POST (exists)" "${AUTH[@]}" "${INE[@]}" -X POST "$B/DocumentReference" -d "$DR"
grep -q "\"id\":\"$ID\"" "$TMP/body" || fail "second POST returned a different resource"
[ "$(count DocumentReference)" = 1 ] || fail "DocumentReference count"

expect 200 "search by identifier" "${AUTH[@]}" "$B/DocumentReference?identifier=urn:him:doc|d-1"
grep -q '"total":1' "$TMP/body" || fail "search total"
expect 200 "search miss" "${AUTH[@]}" "$B/DocumentReference?identifier=urn:him:doc|nope"
grep -q '"total":0' "$TMP/body" || fail "search miss total"

UPD="$(sed "s/^{/{\"id\":\"$ID\",/; s/\"current\"/\"superseded\"/" <<<"$DR")"
expect 200 "PUT status superseded" "${AUTH[@]}" -X PUT "$B/DocumentReference/$ID" -d "$UPD"
expect 200 "read back" "${AUTH[@]}" "$B/DocumentReference/$ID"
grep -q '"superseded"' "$TMP/body" || fail "status not updated"
[ "$(count DocumentReference)" = 1 ] || fail "DocumentReference count after update"
expect 404 "read missing" "${AUTH[@]}" "$B/DocumentReference/missing"

curl -s -X POST "$ROOT/_fail-next/1" >/dev/null
expect 503 "injected failure" "${AUTH[@]}" "$B/Binary/b1"
expect 200 "after failure" "${AUTH[@]}" "$B/Binary/b1"

[ "$(wc -l <"$TMP/log.jsonl")" = 12 ] || fail "log lines: $(wc -l <"$TMP/log.jsonl")"
grep -q '"ifNoneExist":"identifier=urn:him:doc|d-1"' "$TMP/log.jsonl" || fail "log ifNoneExist"

kill -TERM "$PID"; wait "$PID" || fail "peer exit status $?"; PID=
echo "smoke-fhir: all ok"
