#!/usr/bin/env python3
"""Memory of izypop3 and its store plugin while clients stall 50 MiB RETRs.

Starts `izypop3 serverpop3 --password pw` on 127.0.0.1 over localfs (a 50 MiB
message, hard-linked into the mailboxes stall0..stallN-1 of a temporary
directory) or over the fake store (one generated 50 MiB message per
mailbox); N clients log in, send RETR 1 with a 4 KiB receive buffer and
never read; after --hold seconds they close. Prints the VmRSS of izypop3 and
of the plugin idle, during the stall, and 10 s and 35 s after the clients
left (the write timeout, 60 s, does not cut them before).

    make build && python3 bench/stalled_retrs.py --bin bin/izypop3 -n 100 --store localfs
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def child_of(pid):
    for _ in range(100):
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid == pid:
                    return int(d)
        time.sleep(0.1)
    sys.exit("no plugin process")


def wait_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("izypop3 does not listen")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="bin/izypop3")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--store", choices=["localfs", "fake"], default="localfs")
    ap.add_argument("--port", type=int, default=21110)
    ap.add_argument("--hold", type=float, default=15)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="stalled-retrs-")
    if a.store == "localfs":
        big = os.path.join(tmp, "big.eml")
        with open(big, "wb") as f:
            f.write(b"From: a@example.org\r\nSubject: big\r\n\r\n")
            line = b"x" * 76 + b"\r\n"
            f.write(line * ((50 << 20) // len(line)))
        root = os.path.join(tmp, "mail")
        for i in range(a.n):
            os.makedirs(os.path.join(root, f"stall{i}"))
            os.link(big, os.path.join(root, f"stall{i}", "big.eml"))
        store = ["--modhandler", "localfs", "--mimestore.path", root]
    else:
        size = str(50 << 20)
        store = ["--modhandler", "fake", "--mimestore.count", "1",
                 "--mimestore.minsize", size, "--mimestore.maxsize", size]
    srv = subprocess.Popen([a.bin, "serverpop3", "--port", str(a.port), "--listen", "127.0.0.1",
                            "--password", "pw", "--log-level", "warn", "--max-conns-per-addr", "-1",
                            "--max-conns", str(a.n + 10)] + store,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(a.port)
        plugin = child_of(srv.pid)

        def show(what):
            print(f"{what}: izypop3 {rss_mib(srv.pid)} MiB, plugin {rss_mib(plugin)} MiB", flush=True)

        show("idle")
        socks = []
        t0 = time.time()
        for i in range(a.n):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", a.port))
            s.sendall(b"USER stall%d\r\nPASS pw\r\nRETR 1\r\n" % i)
            socks.append(s)
        time.sleep(max(0, a.hold - 3 - (time.time() - t0)))
        show(f"{a.n} stalled RETRs")
        time.sleep(3)
        for s in socks:
            s.close()
        time.sleep(10)
        show("10 s after they left")
        time.sleep(25)
        show("35 s after they left")
    finally:
        srv.terminate()
        srv.wait()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
