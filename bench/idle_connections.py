#!/usr/bin/env python3
"""Server RSS per idle connection, the floor under every lane's per-client memory.

Starts a fresh `pollpush-server --db :memory:`, opens N loopback connections and
reads VmRSS before and after: `get` sends one `GET /species` on each and reads the
answer (an idle HTTP/1.1 keep-alive, what a poller holds between polls); `held`
sends that, then a long-poll the server holds (`If-None-Match` with the list's ETag
and `Prefer: wait=60`, what the long-poll lane sends after its first answer), and
reads RSS once every one is held (`/stats` `longpoll.held`); `silent` only connects
(the accepted socket and its task, before any request).
    bench/idle_connections.py 5000 target/release/pollpush-server get
"""
import json
import os
import resource
import socket
import subprocess
import sys
import time

n, exe, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
server = subprocess.Popen(
    [exe, "--addr", "127.0.0.1:0", "--db", ":memory:"],
    stdout=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "warn"},
)
host, port = server.stdout.readline().strip().removeprefix("listening on http://").rsplit(":", 1)


def rss():
    with open(f"/proc/{server.pid}/status") as status:
        return next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmRSS"))


def get(sock, path=b"/species"):
    sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: bench\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    return data


def etag(answer):
    return next(l.split(b": ", 1)[1] for l in answer.split(b"\r\n") if l.lower().startswith(b"etag:"))


def held_count():
    sock = socket.create_connection((host, int(port)))
    head, _, body = get(sock, b"/stats").partition(b"\r\n\r\n")
    length = int(next(l.split(b": ")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    sock.close()
    return json.loads(body)["longpoll"]["held"]


try:
    get(socket.create_connection((host, int(port))))  # lazily built state first
    time.sleep(0.5)
    before, socks = rss(), []
    for _ in range(n):
        sock = socket.create_connection((host, int(port)))
        if mode in ("get", "held"):
            answer = get(sock)
        if mode == "held":
            sock.sendall(b"GET /species HTTP/1.1\r\nHost: bench\r\nIf-None-Match: " + etag(answer)
                         + b"\r\nPrefer: wait=60\r\n\r\n")
        socks.append(sock)
    # Every poll held well before its 60 s wait runs out, or the figure is wrong.
    deadline = time.monotonic() + 30
    while mode == "held" and held_count() < n:
        if time.monotonic() > deadline:
            sys.exit(f"only {held_count()} of {n} polls held after 30 s")
        time.sleep(0.1)
    time.sleep(1.5)  # as the benches do: let the allocator settle before reading RSS
    print(f"{mode}: {n} connections, RSS per connection {(rss() - before) / n / 1000:.1f} KB")
finally:
    server.kill()
