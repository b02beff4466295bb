"""A real CPython peer for the interop tests: multiprocessing.connection's
own Client and Listener, speaking raw frames (send_bytes/recv_bytes).

    python3 cpython_peer.py client HOST PORT KEYHEX REQUESTHEX
        authenticates, sends one frame, prints the reply frame as hex
    python3 cpython_peer.py listener KEYHEX REPLYHEX
        prints its port, accepts one client, prints the client's first frame
        as hex, answers with REPLYHEX
    python3 cpython_peer.py raw HOST PORT
        answers the challenge with a wrong digest, prints every byte the
        server sends afterwards as hex, until the connection closes
"""
import hmac
import socket
import struct
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener

mode = sys.argv[1]
if mode == "client":
    host, port, key, request = sys.argv[2], int(sys.argv[3]), bytes.fromhex(sys.argv[4]), bytes.fromhex(sys.argv[5])
    try:
        conn = Client((host, port), authkey=key)
    except AuthenticationError as error:
        print("AuthenticationError:", error, flush=True)
        sys.exit(0)
    conn.send_bytes(request)
    print(conn.recv_bytes().hex(), flush=True)
    conn.close()
elif mode == "listener":
    key, reply = bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
    with Listener(("127.0.0.1", 0), authkey=key) as listener:
        print(listener.address[1], flush=True)
        try:
            conn = listener.accept()
        except (AuthenticationError, EOFError) as error:
            print(type(error).__name__, error, flush=True)
            sys.exit(0)
        print(conn.recv_bytes().hex(), flush=True)
        conn.send_bytes(reply)
        try:
            conn.recv_bytes()  # until our client closes the connection
        except EOFError:
            pass
elif mode == "raw":
    host, port = sys.argv[2], int(sys.argv[3])
    sock = socket.create_connection((host, port))
    def recv_frame():
        header = b""
        while len(header) < 4:
            chunk = sock.recv(4 - len(header))
            if not chunk:
                raise EOFError
            header += chunk
        (n,) = struct.unpack("!i", header)
        body = b""
        while len(body) < n:
            body += sock.recv(n - len(body))
        return body
    challenge = recv_frame()
    answer = b"{sha256}" + hmac.new(b"wrong key", challenge[11:], "sha256").digest()
    sock.sendall(struct.pack("!i", len(answer)) + answer)
    rest = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    print(rest.hex(), flush=True)
