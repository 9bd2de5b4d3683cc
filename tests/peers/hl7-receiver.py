#!/usr/bin/env python3
"""HL7 v2 MLLP receiving peer for `him` integration tests.

Built on hl7apy's MLLP server (``hl7apy.mllp.MLLPServer`` + ``AbstractHandler``
routing, MIT licensed).  It plays the part of a downstream EHR / document
repository that receives MDM (or any other) messages and answers with an
original-mode ACK.

    python3 tests/peers/hl7-receiver.py --port P --log FILE
        [--host 127.0.0.1] [--ae-when-contains TEXT] [--ar-first N]
        [--no-ack-first N] [--delay S] [--idle-timeout S]

* ``--port 0`` binds a free port; the port actually bound is printed as
  ``listening <port>`` (one line on stdout, flushed) once the socket accepts.
* Every received message is appended to FILE as one JSON line (written and
  flushed *before* the ACK goes out, so a sender that has its ACK can read
  the line):
      {"seq", "control_id", "type", "trigger", "sending_app", "txa12",
       "txa13", "txa17", "pid3", "version", "parsed_with", "ack", "raw"}
  Field values are the raw ER7 text of the whole field (components kept,
  repetitions joined with the repetition separator, escapes not decoded);
  null when the segment or the field is absent/empty.  "ack" is the MSA-1
  code sent back ("AA"/"AE"/"AR") or null when no ACK was sent.
* Replies: MSH (sender/receiver swapped, own control id, MSH-9
  ACK^<trigger>^ACK, MSH-11/MSH-12 copied) + MSA|<code>|<MSH-10> [+ ERR].
* Several messages per connection and any number of sequential (or
  concurrent) connections are handled.  SIGTERM / SIGINT exit with status 0.
"""

import argparse
import datetime
import itertools
import json
import signal
import socket
import sys
import threading
import time

from hl7apy.consts import MLLP_ENCODING_CHARS, VALIDATION_LEVEL
from hl7apy.mllp import (AbstractErrorHandler, AbstractHandler, MLLPRequestHandler,
                         MLLPServer)
from hl7apy.parser import parse_message

SB = MLLP_ENCODING_CHARS.SB.encode("ascii")
EB = MLLP_ENCODING_CHARS.EB.encode("ascii")
CR = MLLP_ENCODING_CHARS.CR.encode("ascii")

# MDM triggers are listed explicitly for documentation; every other MSH-9
# value is routed to the same handler through HandlerTable.__missing__.
MDM_TYPES = ["MDM^%s^MDM_%s" % (t, s) for t, s in [
    ("T01", "T01"), ("T02", "T02"), ("T03", "T01"), ("T04", "T02"),
    ("T05", "T01"), ("T06", "T02"), ("T07", "T01"), ("T08", "T02"),
    ("T09", "T01"), ("T10", "T02"), ("T11", "T01"), ("T12", "T01")]]


class State(object):
    """Counters and options shared by all connection threads."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.seq = 0
        self.ack_ids = itertools.count(1)
        self.log = open(args.log, "a", encoding="utf-8")

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def write_log(self, record):
        line = json.dumps(record, ensure_ascii=False)
        with self.lock:
            self.log.write(line + "\n")
            self.log.flush()


def split_segments(text):
    """Split ER7 text into segments, tolerating \\r, \\n and \\r\\n."""
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    return [s for s in text.split("\r") if s.strip()]


class ParsedMessage(object):
    """The fields the tests care about, read with hl7apy when it can parse the
    message (tolerant validation, no group detection) and by plain
    splitting otherwise (e.g. \\n separators, unsupported version)."""

    def __init__(self, text):
        self.text = text
        self.segments = split_segments(text.lstrip())
        msh = self.segments[0] if self.segments else ""
        if not (msh.startswith("MSH") and len(msh) >= 8):
            raise ValueError("message does not start with an MSH segment")
        self.field_sep = msh[3]
        enc = msh.split(self.field_sep)[1]
        self.comp_sep = enc[0:1] or "^"
        self.rep_sep = enc[1:2] or "~"
        self.encoding_chars = enc
        self.hl7apy_msg = None
        self.parsed_with = "split"
        try:
            self.hl7apy_msg = parse_message(text.lstrip(), validation_level=VALIDATION_LEVEL.TOLERANT,
                                            find_groups=False)
            self.parsed_with = "hl7apy"
        except Exception as e:  # noqa: BLE001 - any parser failure means: fall back
            why = str(e).replace("\r", "\\r").replace("\n", "\\n")
            self.parsed_with = "split (hl7apy: %s: %s)" % (type(e).__name__, why)

    def field(self, seg_name, number):
        """Raw ER7 of <seg_name>-<number> in the first <seg_name> segment."""
        value = None
        if self.hl7apy_msg is not None:
            try:
                seg = next((c for c in self.hl7apy_msg.children if c.name == seg_name), None)
                if seg is None:
                    return None
                reps = [c.to_er7() for c in seg.children if c.name == "%s_%d" % (seg_name, number)]
                value = self.rep_sep.join(reps)
                return value or None
            except Exception:  # noqa: BLE001
                pass
        for seg in self.segments:
            parts = seg.split(self.field_sep)
            if parts[0] != seg_name:
                continue
            # MSH-1 is the field separator itself, so MSH-n is parts[n-1].
            idx = number - 1 if seg_name == "MSH" else number
            value = parts[idx] if idx < len(parts) else ""
            return value or None
        return None


def hl7_now():
    return datetime.datetime.now().strftime("%Y%m%d%H%M%S")


def build_ack(state, parsed, code, text=None):
    """Hand-built original-mode ACK, returned MLLP-framed like hl7apy's
    Message.to_mllp() (SB + segments + CR + EB + CR)."""
    if parsed is not None:
        fs, enc, cs = parsed.field_sep, parsed.encoding_chars, parsed.comp_sep
        get = parsed.field
    else:
        fs, enc, cs = "|", "^~\\&", "^"

        def get(_seg, _n):
            return None
    msg_type = get("MSH", 9) or ""
    trigger = msg_type.split(cs)[1] if len(msg_type.split(cs)) > 1 else ""
    version = get("MSH", 12) or "2.5.1"
    ack_ctrl = "ACK%s%06d" % (hl7_now(), next(state.ack_ids))
    msh = fs.join([
        "MSH", enc,
        get("MSH", 5) or "", get("MSH", 6) or "",   # sending app/facility <- their receiver
        get("MSH", 3) or "", get("MSH", 4) or "",   # receiving app/facility <- their sender
        hl7_now(), "",
        cs.join(["ACK", trigger, "ACK"]),
        ack_ctrl,
        get("MSH", 11) or "P",
        version,
    ])
    msa = ["MSA", code, get("MSH", 10) or ""]
    if text:
        msa.append(text)
    segments = [msh, fs.join(msa)]
    if code != "AA":
        err_code = cs.join(["207", "Application internal error", "HL70357"])
        try:
            old = tuple(int(x) for x in version.split(".")[:2]) < (2, 5)
        except ValueError:
            old = False
        if old:
            # v2.3/2.4: ERR-1 = error code and location (ELD)
            sub = enc[3:4] or "&"
            segments.append(fs.join(["ERR", cs * 3 + err_code.replace(cs, sub)]))
        else:
            # v2.5+: ERR-3 HL7 error code, ERR-4 severity, ERR-8 user message
            segments.append(fs.join(["ERR", "", "", err_code, "E", "", "", "", text or ""]))
    body = "\r".join(segments)
    return "%s%s%s%s%s" % (MLLP_ENCODING_CHARS.SB, body, MLLP_ENCODING_CHARS.CR,
                           MLLP_ENCODING_CHARS.EB, MLLP_ENCODING_CHARS.CR)


def process(state, message, parse_error=None):
    """Log one message and decide on the reply; returns the framed ACK or
    None (no ACK)."""
    args = state.args
    seq = state.next_seq()
    parsed = None
    try:
        parsed = ParsedMessage(message)
    except Exception as e:  # noqa: BLE001
        parse_error = parse_error or "%s: %s" % (type(e).__name__, e)

    if args.no_ack_first and seq <= args.no_ack_first:
        code, text = None, None
    elif args.ar_first and seq <= args.ar_first:
        code, text = "AR", "Rejected by test peer (--ar-first %d)" % args.ar_first
    elif parsed is None:
        code, text = "AR", "Not an HL7 v2 message: %s" % parse_error
    elif args.ae_when_contains is not None and args.ae_when_contains in message:
        code, text = "AE", "Application error from test peer (--ae-when-contains)"
    else:
        code, text = "AA", None

    get = parsed.field if parsed is not None else (lambda _s, _n: None)
    msg_type = get("MSH", 9)
    comps = msg_type.split(parsed.comp_sep) if msg_type else []
    record = {
        "seq": seq,
        "control_id": get("MSH", 10),
        "type": msg_type,
        "trigger": comps[1] if len(comps) > 1 else None,
        "sending_app": get("MSH", 3),
        "txa12": get("TXA", 12),
        "txa13": get("TXA", 13),
        "txa17": get("TXA", 17),
        "pid3": get("PID", 3),
        "version": get("MSH", 12),
        "parsed_with": parsed.parsed_with if parsed is not None else "none (%s)" % parse_error,
        "ack": code,
        "raw": message,
    }
    state.write_log(record)
    sys.stderr.write("hl7-receiver: #%d %s %s -> %s\n" % (seq, record["type"], record["control_id"], code))
    sys.stderr.flush()
    if code is None:
        return None
    if args.delay:
        time.sleep(args.delay)
    return build_ack(state, parsed, code, text)


class AnyMessageHandler(AbstractHandler):
    """hl7apy handler used for every MSH-9 value."""

    def __init__(self, message, state):
        super(AnyMessageHandler, self).__init__(message)
        self.state = state

    def reply(self):
        return process(self.state, self.incoming_message)


class ErrorHandler(AbstractErrorHandler):
    """hl7apy 'ERR' handler: InvalidHL7Message (no MSH) or a handler crash."""

    def __init__(self, exc, message, state):
        super(ErrorHandler, self).__init__(exc, message)
        self.state = state

    def reply(self):
        return process(self.state, self.incoming_message, "%s: %s" % (type(self.exc).__name__, self.exc))


class HandlerTable(dict):
    """MLLPServer's handlers dict with a catch-all for unknown MSH-9."""

    def __missing__(self, key):
        if key == "ERR":
            raise KeyError(key)
        return self["*"]


class PersistentMLLPRequestHandler(MLLPRequestHandler):
    """hl7apy's request handler answers one message and closes the socket;
    real MLLP senders keep the connection open, so loop over frames.  Routing
    still goes through hl7apy (_extract_hl7_message / _route_message)."""

    def setup(self):
        MLLPRequestHandler.setup(self)
        # MLLPRequestHandler copies server.timeout (hl7apy default: 10 s) to
        # the socket; use our idle timeout instead (None = wait forever).
        self.connection.settimeout(self.server.idle_timeout)
        self.pending = b""

    def read_frame(self):
        """Bytes between SB and EB; None at EOF / error / idle timeout.
        Bytes outside SB..EB (the CR after EB, stray newlines) are skipped;
        not waiting for the CR after EB avoids blocking on a sender that
        omits it."""
        buf = self.pending
        try:
            while True:
                start = buf.find(SB)
                if start < 0:
                    buf = b""
                else:
                    end = buf.find(EB, start + 1)
                    if end >= 0:
                        self.pending = buf[end + 1:]
                        return buf[start + 1:end]
                    buf = buf[start:]
                chunk = self.rfile.read1(65536)
                if not chunk:
                    return None  # peer closed (possibly mid-frame)
                buf += chunk
        except (socket.timeout, ConnectionError, OSError):
            return None

    def handle(self):
        while True:
            frame = self.read_frame()
            if frame is None:
                return
            try:
                text = frame.decode(self.encoding)
            except UnicodeDecodeError:
                text = frame.decode("latin-1")
            # hl7apy's validator regex wants SB + segments + EB + CR and
            # rejects e.g. empty segments; keep the raw text in that case.
            message = self._extract_hl7_message(
                MLLP_ENCODING_CHARS.SB + text + MLLP_ENCODING_CHARS.EB + MLLP_ENCODING_CHARS.CR)
            if message is None:
                message = text
            try:
                response = self._route_message(message)
            except Exception as e:  # noqa: BLE001
                sys.stderr.write("hl7-receiver: handler failed: %r\n" % (e,))
                return
            if response is None:
                continue  # --no-ack-first: keep the connection, say nothing
            try:
                self.wfile.write(response.encode(self.encoding))
                self.wfile.flush()
            except OSError:
                return


class Server(MLLPServer):
    daemon_threads = True
    block_on_close = False


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="0 = pick a free port")
    p.add_argument("--log", required=True, help="JSON-lines file, appended to")
    p.add_argument("--ae-when-contains", metavar="TEXT", default=None,
                   help="answer AE (MSA|AE + ERR) to messages whose raw text contains TEXT")
    p.add_argument("--ar-first", type=int, default=0, metavar="N", help="answer AR to the first N messages")
    p.add_argument("--no-ack-first", type=int, default=0, metavar="N",
                   help="log but never answer the first N messages (connection kept open)")
    p.add_argument("--delay", type=float, default=0.0, metavar="S", help="sleep S seconds before each ACK")
    p.add_argument("--idle-timeout", type=float, default=0.0, metavar="S",
                   help="close a connection idle for S seconds (default 0 = never)")
    args = p.parse_args()

    state = State(args)
    handlers = HandlerTable()
    handlers["*"] = (AnyMessageHandler, state)
    for t in MDM_TYPES:
        handlers[t] = (AnyMessageHandler, state)
    handlers["ERR"] = (ErrorHandler, state)

    server = Server(args.host, args.port, handlers, timeout=None,
                    request_handler_class=PersistentMLLPRequestHandler)
    server.idle_timeout = args.idle_timeout or None

    def on_signal(_signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    print("listening %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
        state.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
