#!/usr/bin/env python3
"""otlp_sink.py - an OTLP/HTTP JSON receiver that counts what it is sent, for benchmarks that
measure the services with tracing on (bench/rest/run --trace). It accepts POST /v1/traces,
answers 200 at once, counts requests and spans, and on SIGTERM writes
"requests=N spans=N" to --out (or stdout).

    bench/common/otlp_sink.py --port 8715 [--out FILE]
"""
import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {"requests": 0, "spans": 0, "bad": 0}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporters use it

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        n = 0
        try:
            for rs in json.loads(body).get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    n += len(ss.get("spans", []))
            ok = self.path == "/v1/traces"
        except ValueError:
            ok = False
        with lock:
            counts["requests"] += 1
            counts["spans"] += n
            counts["bad"] += 0 if ok else 1
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    line = f"requests={counts['requests']} spans={counts['spans']} bad={counts['bad']}\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(line)
    else:
        sys.stdout.write(line)


if __name__ == "__main__":
    main()
