#!/usr/bin/env python3
"""Send HL7 v2 message(s) over MLLP and print the ACK(s).

Built on python-hl7's client (``hl7.client.MLLPClient`` + ``read_loose``,
BSD licensed).  Plays an upstream system (ADT feed, order placer, ...) that
sends to `him`'s MLLP listener.

    python3 tests/peers/adt-send.py --port P [--host 127.0.0.1]
        [--file FILE] [--timeout S]

* Input (FILE, or stdin when --file is absent/"-") may use \\r, \\n or \\r\\n
  as segment separators and may already be MLLP-framed; several messages
  may follow each other (each starts with "MSH|^~\\&|").  All are sent, in
  order, on one connection, each waiting for its ACK.
* Each ACK is printed to stdout with one segment per line, followed by an
  empty line.
* Exit status: 0 when every ACK has MSA-1 = AA (or CA), 1 when some ACK has
  another code (AE, AR, ...), 2 on connection error, timeout, or an
  unreadable/missing ACK.
"""

import argparse
import io
import socket
import sys

import hl7
from hl7.client import CR, EB, MLLPClient, read_loose


class FramedMLLPClient(MLLPClient):
    """MLLPClient.send() does one recv(4096) with no timeout; read until the
    end block instead, within a deadline."""

    def __init__(self, host, port, timeout, encoding="utf-8"):
        MLLPClient.__init__(self, host, port, encoding)
        self.socket.settimeout(timeout)
        self.pending = b""

    def send(self, data):
        self.socket.sendall(data)
        buf = self.pending
        while EB not in buf:
            chunk = self.socket.recv(4096)
            if not chunk:
                raise ConnectionError("connection closed before an ACK arrived (got %r)" % buf)
            buf += chunk
        frame, _, rest = buf.partition(EB)
        self.pending = rest[1:] if rest[:1] == CR else rest
        return frame


def ack_code(ack_text):
    """MSA-1 of an ACK (str), using python-hl7's parser."""
    try:
        msg = hl7.parse(ack_text)
        return str(msg.segment("MSA")[1])
    except Exception:  # noqa: BLE001 - fall back to plain splitting
        for seg in ack_text.split("\r"):
            if seg.startswith("MSA"):
                parts = seg.split(seg[3:4] or "|")
                return parts[1] if len(parts) > 1 else ""
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--file", default="-", help="message file (default: stdin)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for connect and for each ACK")
    args = p.parse_args()

    if args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(args.file, "rb") as f:
            data = f.read()
    messages = list(read_loose(io.BytesIO(data)))
    if not messages:
        sys.stderr.write("adt-send: no message starting with MSH|^~\\&| in input\n")
        return 2

    status = 0
    try:
        socket.setdefaulttimeout(args.timeout)  # covers MLLPClient's connect()
        with FramedMLLPClient(args.host, args.port, args.timeout) as client:
            for m in messages:
                ack = client.send_message(m).decode("utf-8", "replace").strip("\x0b\r\n")
                code = ack_code(ack)
                sys.stdout.write(ack.replace("\r", "\n") + "\n\n")
                sys.stdout.flush()
                if code is None:
                    sys.stderr.write("adt-send: reply has no MSA segment\n")
                    status = 2
                elif code not in ("AA", "CA") and status == 0:
                    status = 1
    except socket.timeout:
        sys.stderr.write("adt-send: timed out after %ss waiting for %s:%d\n" % (args.timeout, args.host, args.port))
        return 2
    except (OSError, ConnectionError) as e:
        sys.stderr.write("adt-send: %s\n" % e)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
