#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# slow.py - hostile HTTP clients for tests/api/hostile.sh.
#
#   slow.py flood|greedy TARGET N SECONDS [SRC...]
#       Opens N connections to TARGET (HOST:PORT, or a unix socket path),
#       from the source addresses SRC (round robin; TCP only). Each sends a
#       request line, then one header byte about every second and never
#       finishes its headers. flood opens a connection the server closed
#       again on the next second's tick, so N are always being tried;
#       greedy does not. Runs SECONDS, then prints "opened=...
#       closed_by_server=... open=... max_open=..." (open: still open).
#   slow.py dribble TARGET KIND LIMIT
#       One connection that sends KIND ("headers": a header byte a second;
#       "body": a declared body a byte a second; "idle": nothing) and
#       prints the seconds until the server closed it, or "open" after
#       LIMIT seconds.
import errno
import os
import resource
import selectors
import socket
import sys
import time

REQUEST_LINE = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 256))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def new_socket(target, src):
    if target.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(target)
        except (BlockingIOError, InterruptedError):
            pass
        return s
    host, port = target.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if src:
        s.bind((src, 0))
    s.setblocking(False)
    err = s.connect_ex((host, int(port)))
    if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
        s.close()
        raise OSError(err, os.strerror(err))
    return s


def flood(target, n, seconds, srcs, reopen):
    raise_fd_limit(n)
    sel = selectors.DefaultSelector()
    conns = {}  # socket -> bytes sent so far
    opened = closed = failed = 0
    max_open = 0
    k = 0

    def open_one():
        nonlocal opened, failed, k
        src = srcs[k % len(srcs)] if srcs else None
        k += 1
        try:
            s = new_socket(target, src)
        except OSError:
            failed += 1
            return
        conns[s] = 0
        sel.register(s, selectors.EVENT_READ)
        opened += 1

    def drop(s):
        sel.unregister(s)
        del conns[s]
        s.close()

    for _ in range(n):
        open_one()
    end = time.monotonic() + seconds
    next_tick = time.monotonic()
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                drop(s)
                closed += 1
        if time.monotonic() >= next_tick:
            next_tick += 1.0
            for s in list(conns):
                sent = conns[s]
                chunk = REQUEST_LINE if sent == 0 else b"a"
                try:
                    s.send(chunk)
                    conns[s] = sent + len(chunk)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    if e.errno in (errno.ENOTCONN,):
                        continue  # still connecting
                    drop(s)
                    closed += 1
            while reopen and len(conns) < n:
                before = len(conns)
                open_one()
                if len(conns) == before:
                    break
        max_open = max(max_open, len(conns))
    print("opened=%d closed_by_server=%d open=%d max_open=%d connect_failed=%d"
          % (opened, closed, len(conns), max_open, failed), flush=True)


def connect_blocking(target):
    if target.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(target)
        return s
    host, port = target.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def dribble(target, kind, limit):
    s = connect_blocking(target)
    s.settimeout(1.0)
    start = time.monotonic()
    if kind == "headers":
        first = REQUEST_LINE
    elif kind == "body":
        first = (b"POST /v1/pools HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{")
    else:
        first = b""
    try:
        if first:
            s.sendall(first)
    except OSError:
        print("%.1f" % (time.monotonic() - start))
        return
    while time.monotonic() - start < limit:
        try:
            data = s.recv(4096)
            if not data:
                print("%.1f" % (time.monotonic() - start))
                return
        except socket.timeout:
            pass
        except OSError:
            print("%.1f" % (time.monotonic() - start))
            return
        if kind != "idle":
            try:
                s.send(b"a")
            except OSError:
                print("%.1f" % (time.monotonic() - start))
                return
    print("open")


def main():
    if sys.argv[1] in ("flood", "greedy"):
        flood(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5:],
              sys.argv[1] == "flood")
    elif sys.argv[1] == "dribble":
        dribble(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit("usage: slow.py flood|dribble ...")


if __name__ == "__main__":
    main()
