# N raw WebSocket clients that subscribe to species and then never read.
import socket, sys, os, json, time
port, n = int(sys.argv[1]), int(sys.argv[2])
def frame(text):
    data = text.encode(); mask = os.urandom(4)
    hdr = bytes([0x81, 0x80 | len(data)]) + mask
    return hdr + bytes(b ^ mask[i % 4] for i, b in enumerate(data))
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    s.send(frame(json.dumps({"type": "subscribe", "room": "species"})))
    socks.append(s)
print("stalled", n, flush=True)
time.sleep(float(sys.argv[3]))
