#!/usr/bin/env python3
"""One POP3 session through Python's poplib, reported as JSON on stdout.

Used by test/interop (Go decides pass/fail). The session:
  STAT, LIST, UIDL, RETR of every message, TOP n 0 and TOP n LINES of every
  message, then DELE of the first message, STAT, RSET, STAT (the marks must
  come and go), then DELE of the messages given with --dele, then QUIT
  (or just close the socket with --no-quit).

poplib unstuffs lines (a leading ".." becomes ".") and returns lines without
their CRLF; "data" below is b"\\r\\n".join(lines) + b"\\r\\n" (b"" for an empty
message), base64-encoded, so it is the message as sent minus the stuffing.
"""
import argparse
import base64
import json
import poplib
import sys

# Lines of up to 998 octets plus stuffing exceed poplib's default of 2048
# only in pathological messages, but a server that sends one must not make
# the test fail for the wrong reason.
poplib._MAXLINE = 1 << 20


def joined(lines):
    if not lines:
        return b""
    return b"\r\n".join(lines) + b"\r\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--top-lines", type=int, default=3)
    ap.add_argument("--dele", default="", help="comma-separated message numbers to DELE before QUIT")
    ap.add_argument("--no-quit", action="store_true", help="close without QUIT")
    ap.add_argument("--no-retr", action="store_true", help="skip RETR/TOP (listing only)")
    ap.add_argument("--tls", choices=["none", "stls", "ssl"], default="none",
                    help="stls: upgrade with stls() and read CAPA again; ssl: POP3_SSL (implicit TLS)")
    ap.add_argument("--cafile", help="CA certificate that must have signed the server's")
    a = ap.parse_args()

    out = {}
    if a.tls == "ssl":
        import ssl
        ctx = ssl.create_default_context(cafile=a.cafile)
        p = poplib.POP3_SSL(a.host, a.port, timeout=60, context=ctx)
    else:
        p = poplib.POP3(a.host, a.port, timeout=60)
    out["greeting"] = p.getwelcome().decode("latin-1")
    if a.tls == "stls":
        import ssl
        out["capa_before"] = sorted(p.capa().keys())
        p.stls(ssl.create_default_context(cafile=a.cafile))
        out["capa_after"] = sorted(p.capa().keys())
    p.user(a.user)
    p.pass_(a.password)
    out["stat"] = list(p.stat())
    resp, lines, _ = p.list()
    out["list"] = [[int(x) for x in l.split()] for l in lines]
    resp, lines, _ = p.uidl()
    out["uidl"] = [[int(l.split()[0]), l.split()[1].decode("latin-1")] for l in lines]
    # Single-message LIST/UIDL forms.
    out["list1"] = p.list(1).decode("latin-1") if lines else ""
    out["uidl1"] = p.uidl(1).decode("latin-1") if lines else ""

    retr, top0, topn = [], [], []
    if not a.no_retr:
        for n, _size in out["list"]:
            resp, lines, octets = p.retr(n)
            retr.append({"n": n, "resp": resp.decode("latin-1"), "octets": octets,
                         "data": base64.b64encode(joined(lines)).decode()})
            resp, lines, octets = p.top(n, 0)
            top0.append({"n": n, "data": base64.b64encode(joined(lines)).decode()})
            resp, lines, octets = p.top(n, a.top_lines)
            topn.append({"n": n, "data": base64.b64encode(joined(lines)).decode()})
    out["retr"], out["top0"], out["topn"] = retr, top0, topn

    if out["list"]:
        p.dele(1)
        out["stat_after_dele1"] = list(p.stat())
        try:
            p.retr(1)
            out["retr_deleted"] = "+OK"
        except poplib.error_proto as e:
            arg = e.args[0] if e.args else b""
            out["retr_deleted"] = arg.decode("latin-1") if isinstance(arg, bytes) else str(arg)
        p.rset()
        out["stat_after_rset"] = list(p.stat())

    dele = [int(x) for x in a.dele.split(",") if x]
    for n in dele:
        p.dele(n)
    if a.no_quit:
        p.sock.close()
        out["quit"] = "closed without QUIT"
    else:
        out["quit"] = p.quit().decode("latin-1")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
