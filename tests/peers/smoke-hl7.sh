#!/usr/bin/env bash
# Smoke test for the HL7 v2 MLLP peers (tests/peers/hl7-receiver.py,
# tests/peers/adt-send.py) against python-hl7's `mllp_send` console script.
# Needs: python3 -m pip install -r tests/peers/requirements.txt
# Usage: tests/peers/smoke-hl7.sh        (exit 0 = all checks passed)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
MLLP_SEND=${MLLP_SEND:-mllp_send}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/smoke-hl7.XXXXXX")
RPID=""

cleanup() {
  if [[ -n "$RPID" ]] && kill -0 "$RPID" 2>/dev/null; then kill -TERM "$RPID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; echo "--- receiver stderr:" >&2; cat "$WORK/recv.err" >&2 || true; exit 1; }
pass() { echo "ok   $*"; }

# start_receiver LOGFILE [receiver options...]: sets RPID and PORT.
start_receiver() {
  local log=$1; shift
  : > "$WORK/recv.out"
  "$PY" "$HERE/hl7-receiver.py" --port 0 --log "$log" "$@" > "$WORK/recv.out" 2> "$WORK/recv.err" &
  RPID=$!
  for _ in $(seq 1 100); do
    grep -q '^listening ' "$WORK/recv.out" && break
    kill -0 "$RPID" 2>/dev/null || fail "receiver died at start"
    sleep 0.1
  done
  PORT=$(awk '/^listening /{print $2}' "$WORK/recv.out")
  [[ -n "$PORT" ]] || fail "receiver did not print 'listening <port>'"
}

stop_receiver() {
  kill -TERM "$RPID"
  local rc=0; wait "$RPID" || rc=$?
  RPID=""
  [[ $rc -eq 0 ]] || fail "receiver exit status $rc after SIGTERM (want 0)"
}

# mdm CTRL TRIGGER STRUCT DOCID [NOTE]: one MDM message, v2.5.1, \r-separated,
# no trailing newline.
mdm() {
  printf '%s\r' \
    "MSH|^~\\&|HIM|GENHOSP|EHR|GENHOSP|20240315101500||MDM^$2^$3|$1|P|2.5.1" \
    "EVN|$2|20240315101500" \
    "PID|1||MRN12345^^^GENHOSP^MR||DOE^JANE^Q||19800214|F" \
    "PV1|1|I|W3^301^A" \
    "TXA|1|DS|TX|20240315100000|1234^SMITH^JOHN^^^DR|||||||$4^HIM||||report.pdf|AU||AV" \
    "OBX|1|TX|11506-3^Progress note^LN||${5:-Patient seen and examined.}||||||F"
}

# acks_to_lines: MLLP-framed ACK bytes (as printed by mllp_send) -> one segment per line
acks_to_lines() { tr '\r\013\034' '\n\n\n' | grep -av '^$' || true; }

# ---------------------------------------------------------------- 1. AA
LOG1=$WORK/aa.jsonl
start_receiver "$LOG1"
CTRL=SMOKE$(date +%s)$$
mdm "$CTRL" T02 MDM_T02 DOC-001 > "$WORK/t02.hl7"
# --loose: the file is plain segments (\r, \n or \r\n), no MLLP framing.
timeout 15 "$MLLP_SEND" --loose --port "$PORT" --file "$WORK/t02.hl7" 127.0.0.1 > "$WORK/ack1.raw" \
  || fail "mllp_send exited $?"
acks_to_lines < "$WORK/ack1.raw" > "$WORK/ack1.txt"
grep -Eq "^MSA\|AA\|${CTRL}(\||\$)" "$WORK/ack1.txt" || { cat "$WORK/ack1.txt"; fail "no MSA|AA|$CTRL in ACK"; }
grep -Eq '^MSH\|\^~\\&\|EHR\|GENHOSP\|HIM\|GENHOSP\|[0-9]{14}\|\|ACK\^T02\^ACK\|[^|]+\|P\|2\.5\.1$' "$WORK/ack1.txt" \
  || { cat "$WORK/ack1.txt"; fail "ACK MSH not as expected"; }
pass "mllp_send --loose -> MSA|AA|$CTRL"

"$PY" - "$LOG1" "$CTRL" <<'EOF' || fail "log check (AA)"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, "want 1 log line, got %d" % len(lines)
r = json.loads(lines[0])
want = {"control_id": sys.argv[2], "type": "MDM^T02^MDM_T02", "trigger": "T02", "sending_app": "HIM",
        "txa12": "DOC-001^HIM", "txa13": None, "txa17": "AU", "pid3": "MRN12345^^^GENHOSP^MR",
        "ack": "AA", "parsed_with": "hl7apy"}
bad = {k: (r.get(k), v) for k, v in want.items() if r.get(k) != v}
assert not bad, "log mismatch (got, want): %r" % bad
assert r["raw"].startswith("MSH|^~\\&|HIM|") and "\rTXA|1|DS|TX|" in r["raw"], repr(r["raw"])
EOF
pass "log line: control_id, type, trigger, txa12/13/17, pid3"

# Several messages on one connection; adt-send (python-hl7 MLLPClient) with \n separators.
{ mdm "${CTRL}-b" T04 MDM_T02 DOC-001; echo; mdm "${CTRL}-c" T11 MDM_T01 DOC-001; } | tr '\r' '\n' > "$WORK/two.txt"
"$PY" "$HERE/adt-send.py" --port "$PORT" --file "$WORK/two.txt" --timeout 10 > "$WORK/ack2.txt" \
  || fail "adt-send exit $? (want 0)"
grep -q "^MSA|AA|${CTRL}-b\$" "$WORK/ack2.txt" && grep -q "^MSA|AA|${CTRL}-c\$" "$WORK/ack2.txt" \
  && grep -q '^MSH|.*|ACK^T11^ACK|' "$WORK/ack2.txt" || { cat "$WORK/ack2.txt"; fail "adt-send ACKs"; }
[[ $(wc -l < "$LOG1") -eq 3 ]] || fail "want 3 log lines after adt-send"
pass "adt-send: 2 messages on one connection (T04, T11), both AA, exit 0"
stop_receiver
pass "receiver exits 0 on SIGTERM"

# ---------------------------------------------------------------- 2. AE
LOG2=$WORK/ae.jsonl
start_receiver "$LOG2" --ae-when-contains "POISON"
CTRL2=AE$(date +%s)$$
# Without --loose, mllp_send needs every message terminated by \x1c (MLLP end block).
{ mdm "${CTRL2}-ok" T02 MDM_T02 DOC-002; printf '\034'; \
  mdm "${CTRL2}-bad" T02 MDM_T02 DOC-003 "contains POISON text"; printf '\034'; } > "$WORK/ae.hl7"
timeout 15 "$MLLP_SEND" --port "$PORT" --file "$WORK/ae.hl7" 127.0.0.1 > "$WORK/ack3.raw" \
  || fail "mllp_send exited $?"
acks_to_lines < "$WORK/ack3.raw" > "$WORK/ack3.txt"
grep -Eq "^MSA\|AA\|${CTRL2}-ok(\||\$)" "$WORK/ack3.txt" || { cat "$WORK/ack3.txt"; fail "want AA for -ok"; }
grep -Eq "^MSA\|AE\|${CTRL2}-bad(\||\$)" "$WORK/ack3.txt" || { cat "$WORK/ack3.txt"; fail "want AE for -bad"; }
grep -Eq '^ERR\|\|\|207\^' "$WORK/ack3.txt" || { cat "$WORK/ack3.txt"; fail "want ERR segment with AE"; }
pass "--ae-when-contains: MSA|AE|${CTRL2}-bad + ERR, other message AA (mllp_send, framed file)"
"$PY" "$HERE/adt-send.py" --port "$PORT" --file "$WORK/ae.hl7" > /dev/null && fail "adt-send exit 0 on AE" || rc=$?
[[ $rc -eq 1 ]] || fail "adt-send exit $rc on AE (want 1)"
pass "adt-send exits 1 when an ACK is AE"
stop_receiver

# ---------------------------------------------------------------- 3. AR, no-ACK, delay
LOG3=$WORK/ar.jsonl
start_receiver "$LOG3" --ar-first 1
mdm AR1 T02 MDM_T02 DOC-004 > "$WORK/ar1.hl7"
"$PY" "$HERE/adt-send.py" --port "$PORT" --file "$WORK/ar1.hl7" > "$WORK/ack4.txt" && rc=0 || rc=$?
[[ $rc -eq 1 ]] && grep -q '^MSA|AR|AR1|' "$WORK/ack4.txt" || { cat "$WORK/ack4.txt"; fail "want AR, exit 1 (got $rc)"; }
"$PY" "$HERE/adt-send.py" --port "$PORT" --file "$WORK/ar1.hl7" > "$WORK/ack5.txt" || fail "retry after AR not AA"
pass "--ar-first 1: AR then AA"
stop_receiver

LOG4=$WORK/noack.jsonl
start_receiver "$LOG4" --no-ack-first 1 --delay 0.5
"$PY" "$HERE/adt-send.py" --port "$PORT" --file "$WORK/ar1.hl7" --timeout 1 > /dev/null 2>&1 && rc=0 || rc=$?
[[ $rc -eq 2 ]] || fail "adt-send exit $rc with no ACK (want 2 = timeout)"
start=$(date +%s%N)
"$PY" "$HERE/adt-send.py" --port "$PORT" --file "$WORK/ar1.hl7" > /dev/null || fail "second send not AA"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[[ $ms -ge 500 ]] || fail "--delay 0.5 but ACK came after ${ms} ms"
"$PY" - "$LOG4" <<'EOF' || fail "log check (no-ack)"
import json, sys
acks = [json.loads(l)["ack"] for l in open(sys.argv[1])]
assert acks == [None, "AA"], acks
EOF
pass "--no-ack-first 1: logged, no ACK (sender timed out); --delay 0.5: ACK after ${ms} ms"
stop_receiver

echo "smoke-hl7: all checks passed"
