#!/usr/bin/env python3
"""TLS peers for splicer's end-to-end tests, on Python's ssl module (OpenSSL).

client ADDR [options]: one connection (--repeat N: N in a row); prints one
    line per connection saying how the handshake went (version, cipher,
    ALPN, the server certificate's subject and serial) and, with --echo N,
    whether N pseudo-random bytes came back intact from an echo server
    behind the proxy, after a TLS half-close (close_notify sent, the rest
    still read). `ok=true` means the handshake and the exchange asked for
    both worked: an answer cut short is a failure.
server [options]: a TLS server on 127.0.0.1:0; prints `listening PORT`,
    then one line per connection (SNI, ALPN, client certificate,
    session reuse, or the handshake's error), and echoes what it reads.

Lines are `key=value` fields separated by tabs (absent values left out),
flushed as they are written: the tests read them as they come.
"""

import argparse
import random
import select
import socket
import ssl
import sys
import threading

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def emit(obj):
    fields = []
    for key, value in sorted(obj.items()):
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(value)
        value = str(value).replace("\t", " ").replace("\n", " ")
        fields.append("%s=%s" % (key, value))
    sys.stdout.write("\t".join(fields) + "\n")
    sys.stdout.flush()


def dn(cert, key):
    """`/C=FR/O=Lab/CN=client1` from getpeercert()'s subject or issuer."""
    if not cert:
        return None
    parts = []
    short = {"countryName": "C", "organizationName": "O", "commonName": "CN"}
    for rdn in cert.get(key, ()):
        for name, value in rdn:
            parts.append("%s=%s" % (short.get(name, name), value))
    return "/" + "/".join(parts)


def client(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if args.ca:
        ctx.load_verify_locations(args.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if args.cert:
        ctx.load_cert_chain(args.cert)
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(","))
    if args.max:
        ctx.maximum_version = VERSIONS[args.max]
    if args.min:
        ctx.minimum_version = VERSIONS[args.min]
    for n in range(args.repeat):
        out = {"n": n}
        connect(ctx, args, out)
        emit(out)


def connect(ctx, args, out):
    out["ok"] = False
    host, port = args.addr.rsplit(":", 1)
    try:
        sock = socket.create_connection((host, int(port)), timeout=args.timeout)
    except OSError as e:
        out["error"] = "connect: %s" % (e,)
        return
    with sock:
        out["port"] = sock.getsockname()[1]
        sock.setblocking(False)
        inc, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, outgoing, server_hostname=args.sni)
        io = Pump(sock, inc, outgoing, args.timeout)
        try:
            io.run(obj.do_handshake)
        except (ssl.SSLError, OSError, EOFError, TimeoutError) as e:
            out["error"] = "handshake: %s" % (e,)
            return
        out.update(
            ok=True,
            version=obj.version(),
            cipher=obj.cipher()[0],
            alpn=obj.selected_alpn_protocol(),
        )
        cert = obj.getpeercert() if args.ca else None
        if cert:
            out["subject"] = dn(cert, "subject")
            out["serial"] = cert.get("serialNumber")
            out["san"] = [v for (k, v) in cert.get("subjectAltName", ())]
        try:
            if args.line:
                got = b""
                while not got.endswith(b"\n"):
                    data = io.read_some(obj)
                    if not data:
                        break
                    got += data
                out["line"] = got.decode(errors="replace").strip()
                if not got.endswith(b"\n"):
                    raise EOFError("closed before a whole line")
            if args.echo is not None:
                out["echoed"] = echo(obj, io, args.echo, args.seed, out)
            elif args.send is not None:
                io.write(obj, args.send.encode())
                got = b""
                while len(got) < len(args.send):
                    data = io.read_some(obj)
                    if not data:
                        break
                    got += data
                out["received"] = got.decode(errors="replace")
                if len(got) < len(args.send):
                    raise EOFError("closed after %d bytes of the answer" % len(got))
        except (ssl.SSLError, OSError, EOFError, TimeoutError, ValueError) as e:
            out["ok"] = False
            out["error"] = "data: %s" % (e,)


class Pump:
    """Moves TLS records between a non-blocking socket and an SSLObject's
    memory BIOs, so reads and writes interleave in one thread."""

    def __init__(self, sock, inc, outgoing, timeout):
        self.sock, self.inc, self.out, self.timeout = sock, inc, outgoing, timeout
        self.outbuf = bytearray()
        self.eof = False

    def pending(self):
        return len(self.outbuf) + self.out.pending

    def send_some(self):
        """Sends what the socket takes now of the records to send."""
        self.outbuf += self.out.read()
        try:
            n = self.sock.send(self.outbuf)
        except BlockingIOError:
            n = 0
        del self.outbuf[:n]

    def flush(self):
        while self.pending():
            select.select([], [self.sock], [], self.timeout)
            self.send_some()

    def fill(self):
        """Feeds the bytes the socket has (waiting for some); False at EOF."""
        r, _, _ = select.select([self.sock], [], [], self.timeout)
        if not r:
            raise TimeoutError("no data within %ss" % self.timeout)
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            self.inc.write_eof()
            return False
        self.inc.write(data)
        return True

    def run(self, op):
        """Calls `op` until it stops wanting to read."""
        while True:
            try:
                result = op()
                self.flush()
                return result
            except ssl.SSLWantReadError:
                self.flush()
                if self.eof:
                    raise EOFError("connection closed by peer")
                self.fill()

    def write(self, obj, data):
        obj.write(data)
        self.flush()

    def read_some(self, obj):
        try:
            return self.run(lambda: obj.read(65536))
        except ssl.SSLZeroReturnError:
            return b""


def echo(obj, io, total, seed, out):
    """Sends `total` bytes while reading the echo, then a close_notify, then
    reads the rest until the server closes; returns the bytes echoed intact
    (raises on the first byte that differs). Sets out["close_notify"]: the
    server ended with a close_notify, not a bare FIN."""
    want = random.Random(seed).randbytes(total)
    sent = got = 0
    closed = False
    out["close_notify"] = False
    out["after_close"] = 0
    try:
        while True:
            while sent < total and io.pending() < 256 * 1024:
                chunk = want[sent : sent + 16384]
                obj.write(chunk)
                sent += len(chunk)
            if sent == total and not closed:
                # Every record received so far is read first: the second
                # SSL_shutdown() that unwrap() makes must find nothing to drop.
                got += drain(obj, want, got)
                try:
                    obj.unwrap()
                except ssl.SSLWantReadError:
                    pass
                closed = True
            wr = [io.sock] if io.pending() else []
            r, w, _ = select.select([io.sock], wr, [], io.timeout)
            if not r and not w:
                raise TimeoutError("stalled: %d sent, %d echoed" % (sent, got))
            if w:
                io.send_some()
            if r:
                data = io.sock.recv(65536)
                if not data:
                    io.inc.write_eof()
                    return got + drain(obj, want, got)
                io.inc.write(data)
                n = drain(obj, want, got)
                got += n
                if closed:
                    out["after_close"] += n
    except ssl.SSLZeroReturnError as e:
        out["close_notify"] = True
        if closed:
            out["after_close"] += e.args[0]
        return got + e.args[0]


def drain(obj, want, at):
    """Reads and checks every decrypted byte available; at the peer's
    close_notify raises SSLZeroReturnError(bytes read before it)."""
    n = 0
    while True:
        try:
            data = obj.read(65536)
        except ssl.SSLWantReadError:
            return n
        except ssl.SSLZeroReturnError:
            raise ssl.SSLZeroReturnError(n)
        if not data:
            raise ssl.SSLZeroReturnError(n)
        if data != want[at + n : at + n + len(data)]:
            raise ValueError("echo differs at byte %d" % (at + n))
        n += len(data)


def server(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert)
    if args.ca:
        ctx.load_verify_locations(args.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(","))
    seen = threading.local()

    def on_sni(obj, name, _ctx):
        seen.name = name

    ctx.sni_callback = on_sni
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    print("listening %d" % lsock.getsockname()[1], flush=True)
    while True:
        conn, peer = lsock.accept()
        threading.Thread(target=serve, args=(ctx, conn, peer, seen), daemon=True).start()


def serve(ctx, conn, peer, seen):
    conn.settimeout(30)
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        emit({"event": "failed", "error": str(e), "port": peer[1]})
        conn.close()
        return
    cert = tls.getpeercert()
    emit(
        {
            "event": "handshake",
            "port": peer[1],
            "sni": getattr(seen, "name", None),
            "alpn": tls.selected_alpn_protocol(),
            "version": tls.version(),
            "client": dn(cert, "subject"),
            "reused": tls.session_reused,
        }
    )
    try:
        while True:
            data = tls.recv(65536)
            if not data:
                break
            tls.sendall(data)
        tls.unwrap()
    except (ssl.SSLError, OSError, ValueError):
        pass
    conn.close()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("client")
    c.add_argument("addr")
    c.add_argument("--sni")
    c.add_argument("--alpn")
    c.add_argument("--cert", help="client certificate and key (PEM)")
    c.add_argument("--ca", help="verify the server against this CA file")
    c.add_argument("--min", choices=VERSIONS)
    c.add_argument("--max", choices=VERSIONS)
    c.add_argument("--echo", type=int, help="bytes to send to an echo server")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--line", action="store_true", help="read a line first")
    c.add_argument("--send", help="send this, read as many bytes back")
    c.add_argument("--timeout", type=float, default=10)
    c.add_argument("--repeat", type=int, default=1, help="connections in a row")
    s = sub.add_parser("server")
    s.add_argument("--cert", required=True)
    s.add_argument("--ca", help="require a client certificate from this CA")
    s.add_argument("--alpn")
    args = p.parse_args()
    if args.cmd == "client":
        client(args)
    else:
        server(args)


if __name__ == "__main__":
    main()
