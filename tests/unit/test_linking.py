#!/usr/bin/env python3
"""test_linking.py - each service binary links the third-party libraries it calls, no more.

common/ is cut into mc_core and one adapter per library (mc_kafka, mc_pg, mc_http, mc_jwt)
so that a service links only what it uses. mc_jwt verifies tokens with cjose (JWK, JWS),
OpenSSL's libcrypto (PEM keys) and libcurl (an identity provider's JWKS): the services that
verify tokens (model-api, authz) link them; the pusher asks authz and links none but libcurl,
which it uses itself. libjwt, used before cjose, must come back nowhere. Two views of a built binary:
  - readelf -d (NEEDED): the libraries the binary itself asks for. Among the libraries the
    project builds against, this set must be exactly the expected one.
  - ldd: everything the loader brings in, through any library. What a service never calls
    must not come in by another road either.
Usage: test_linking.py pusher=PATH authz=PATH model-api=PATH
"""
import re
import subprocess
import sys

# The libraries CMake names (pkg-config modules), as their sonames begin.
WATCHED = {
    "rdkafka": "librdkafka.so",
    "jansson": "libjansson.so",
    "pq": "libpq.so",
    "ulfius": "libulfius.so",
    "microhttpd": "libmicrohttpd.so",
    "jwt": "libjwt.so",
    "cjose": "libcjose.so",
    "crypto": "libcrypto.so",
    "websockets": "libwebsockets.so",
    "uv": "libuv.so",
    "curl": "libcurl",
}

# Exactly these among WATCHED in NEEDED.
NEEDED = {
    "pusher": {"rdkafka", "jansson", "websockets", "uv", "curl"},
    "authz": {"rdkafka", "jansson", "ulfius", "microhttpd", "cjose", "crypto", "curl"},
    "model-api": {"rdkafka", "jansson", "pq", "ulfius", "microhttpd", "cjose", "crypto", "curl"},
}

# None of these anywhere in what ldd lists.
NEVER_LOADED = {
    "pusher": {"pq", "ulfius", "microhttpd", "jwt", "cjose"},
    "authz": {"pq", "websockets", "uv", "jwt"},
    "model-api": {"websockets", "uv", "jwt"},
}


def watched(sonames):
    return {name for name, prefix in WATCHED.items() if any(s.startswith(prefix) for s in sonames)}


def needed(path):
    out = subprocess.run(["readelf", "-d", path], check=True, capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def loaded(path):
    out = subprocess.run(["ldd", path], check=True, capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def main(args):
    binaries = dict(arg.split("=", 1) for arg in args)
    failures = []
    if set(binaries) != set(NEEDED):
        failures.append(f"expected binaries {sorted(NEEDED)}, got {sorted(binaries)}")
    for service, path in sorted(binaries.items()):
        got = watched(needed(path))
        want = NEEDED.get(service, set())
        status = "ok  " if got == want else "FAIL"
        print(f"{status} {service} links {sorted(got)}")
        if got != want:
            failures.append(f"{service} ({path}): links {sorted(got)}, expected {sorted(want)}: "
                            f"extra {sorted(got - want)}, missing {sorted(want - got)}")
        all_loaded = watched(loaded(path))
        bad = all_loaded & NEVER_LOADED.get(service, set())
        print(f"{'FAIL' if bad else 'ok  '} {service} loads {sorted(all_loaded)}")
        if bad:
            failures.append(f"{service} ({path}): loads {sorted(bad)} through a dependency")
    for f in failures:
        print(f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
