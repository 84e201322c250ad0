"""Publishes N envelopes (a real Kazoo CHANNEL_CREATE payload) round-robin over K accounts'
Redis channels, as ingest would, and prints how many subscribers Redis reported.
Usage: publish.py PORT EVENTS ACCOUNTS PAYLOAD_FILE"""
import json
import socket
import sys
import time

port, events, accounts, payload_file = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
payload = open(payload_file, "rb").read().strip()


def account(i):
    return format(0xACC00000 + i, "032x")


def resp(*parts):
    out = b"*%d\r\n" % len(parts)
    for p in parts:
        p = p if isinstance(p, bytes) else str(p).encode()
        out += b"$%d\r\n%s\r\n" % (len(p), p)
    return out


sock = socket.create_connection(("127.0.0.1", port))
batch = []
now = int(time.time() * 1000)
for n in range(events):
    a = account(n % accounts)
    header = json.dumps({"v": 1, "account_id": a, "kind": "call", "event_name": "CHANNEL_CREATE",
                         "routing_key": "call.CHANNEL_CREATE.bench-%d" % n, "source_key": "call.CHANNEL_CREATE.bench-%d" % n,
                         "exchange": "callevt", "ingested_at_ms": now, "offset": "%d-%d" % (now, n)}, separators=(",", ":"))
    batch.append(resp("PUBLISH", "blackhole:{%s}:events" % a, header.encode() + b"\n" + payload))
    if len(batch) == 100 or n == events - 1:
        sock.sendall(b"".join(batch))
        expected = len(batch)
        got = 0
        buf = b""
        while got < expected:
            buf += sock.recv(65536)
            got = buf.count(b"\r\n")
        batch = []
        time.sleep(0.005)
print(json.dumps({"published": events}))
