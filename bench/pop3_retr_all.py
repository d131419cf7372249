#!/usr/bin/env python3
"""Benchmark client: one poplib session, RETR of every message, one at a time.

Prints JSON: messages, octets (sum of the unstuffed messages as sent, CRLF
line ends), seconds (from the first RETR to the last reply), session_seconds
(connect to QUIT reply), sha256 of all messages concatenated (so two servers
can be shown to have served the same bytes).
"""
import argparse
import hashlib
import json
import poplib
import sys
import time

poplib._MAXLINE = 1 << 20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", default="bench")
    ap.add_argument("--password", default="12345")
    a = ap.parse_args()

    t0 = time.perf_counter()
    p = poplib.POP3(a.host, a.port, timeout=300)
    p.user(a.user)
    p.pass_(a.password)
    count, _ = p.stat()
    h = hashlib.sha256()
    octets = 0
    t1 = time.perf_counter()
    for n in range(1, count + 1):
        _, lines, _ = p.retr(n)
        data = b"\r\n".join(lines) + b"\r\n" if lines else b""
        octets += len(data)
        h.update(data)
    t2 = time.perf_counter()
    p.quit()
    t3 = time.perf_counter()
    json.dump({"messages": count, "octets": octets, "seconds": t2 - t1,
               "session_seconds": t3 - t0, "sha256": h.hexdigest()}, sys.stdout)


if __name__ == "__main__":
    main()
