#!/usr/bin/env python3
"""A development server for the herald.js examples (standard library only).

    scripts/run.sh                      # a node on :8080 (another terminal)
    python3 examples/serve.py           # then open http://127.0.0.1:8000/examples/react-inbox/

It serves the repository's clients/ and examples/ folders, React 18's UMD builds from Debian's
node-react and node-react-dom packages (or node_modules/, when there) with ES module shims so
`import { useState } from "react"` works through an import map, and a development token endpoint:

    GET /token?user=alice&account=42&channels=*&ttl=3600   -> {"token": "<HS256 JWT>"}

which mints tokens with HERALD_JWT_SECRET (default: the development secret of scripts/run.sh). A
real app's backend mints them after checking its own session; this endpoint trusts anyone and is
for a development machine only (it binds 127.0.0.1).
"""
import argparse
import base64
import hashlib
import hmac
import json
import mimetypes
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

REPO = Path(__file__).resolve().parents[1]
DEV_SECRET = "dev-secret-change-me-0123456789abcdef"  # scripts/run.sh's development secret
# Where React 18's UMD builds are found: a local node_modules first, then Debian's packages.
UMD_FOLDERS = {
    "react": [REPO / "node_modules/react/umd", Path("/usr/share/nodejs/react/umd")],
    "react-dom": [REPO / "node_modules/react-dom/umd", Path("/usr/share/nodejs/react-dom/umd")],
}
REACT_EXPORTS = (
    "Children Component Fragment PureComponent StrictMode Suspense cloneElement createContext createElement "
    "createRef forwardRef isValidElement lazy memo startTransition useCallback useContext useDebugValue "
    "useDeferredValue useEffect useId useImperativeHandle useInsertionEffect useLayoutEffect useMemo useReducer "
    "useRef useState useSyncExternalStore useTransition version"
).split()
SHIMS = {
    "/vendor/react.js": "const React = globalThis.React;\nexport default React;\nexport const { %s } = React;\n" % ", ".join(REACT_EXPORTS),
    "/vendor/react-dom-client.js": "export const { createRoot, hydrateRoot } = globalThis.ReactDOM;\n",
}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mint_token(secret: str, account: str, user: str, channels=None, ttl: float = 3600, info=None) -> str:
    """An HS256 client token as the node expects it (docs/protocol.md, Authentication)."""
    now = time.time()
    claims = {"sub": user, "account": account, "iat": int(now), "exp": int(now + ttl)}
    if channels:
        claims["channels"] = channels
    if info is not None:
        claims["info"] = info
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(signature)}"


def umd_file(package: str, development: bool) -> Path | None:
    name = {"react": "react", "react-dom": "react-dom"}[package]
    flavour = "development" if development else "production.min"
    for folder in UMD_FOLDERS[package]:
        candidate = folder / f"{name}.{flavour}.js"
        if candidate.is_file():
            return candidate
    return None


class ExampleServer(ThreadingHTTPServer):
    """Serves `roots` (URL prefix -> folder), the React shims and /token. `token_log` records
    every token request (for tests); `extra_roots` lets a test add its own pages."""

    daemon_threads = True

    def __init__(self, address, secret: str, roots: dict[str, Path], development_react: bool = False):
        super().__init__(address, Handler)
        self.secret = secret
        self.roots = roots
        self.development_react = development_react
        self.token_log: list[dict] = []
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: ExampleServer

    def log_message(self, format, *args):  # quiet: the examples are interactive
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        path = url.path
        if path == "/token":
            return self.token(parse_qs(url.query))
        if path in SHIMS:
            return self.reply(200, SHIMS[path].encode(), "text/javascript")
        if path.startswith("/vendor/umd/"):
            package = path.removeprefix("/vendor/umd/").removesuffix(".js")
            file = umd_file(package, self.server.development_react) if package in UMD_FOLDERS else None
            if file is None:
                return self.reply(404, b"React 18 UMD builds not found: apt-get install node-react node-react-dom\n", "text/plain")
            return self.reply(200, file.read_bytes(), "text/javascript")
        if path == "/":
            return self.redirect("/examples/")
        for prefix, folder in self.server.roots.items():
            if path.startswith(prefix):
                relative = path[len(prefix):]
                file = (folder / relative).resolve()
                if folder.resolve() not in file.parents and file != folder.resolve():
                    return self.reply(403, b"outside the served folders\n", "text/plain")
                if file.is_dir():
                    if not path.endswith("/"):
                        return self.redirect(path + "/")
                    file = file / "index.html"
                if file.is_file():
                    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                    if file.suffix in (".js", ".mjs"):
                        kind = "text/javascript"
                    return self.reply(200, file.read_bytes(), kind)
        self.reply(404, b"not found\n", "text/plain")

    def token(self, query):
        one = lambda name, default=None: query.get(name, [default])[0]
        user, account = one("user", "alice"), one("account", "42")
        channels = [c for c in (one("channels", "*") or "").split(",") if c]
        ttl = float(one("ttl", "3600"))
        info = json.loads(one("info")) if one("info") else None
        with self.server.lock:
            self.server.token_log.append({"user": user, "account": account, "ttl": ttl, "reason": one("reason"), "at": time.time()})
        token = mint_token(self.server.secret, account, user, channels, ttl, info)
        self.reply(200, json.dumps({"token": token}).encode(), "application/json")

    def redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def reply(self, status, body: bytes, kind: str):
        self.send_response(status)
        self.send_header("Content-Type", kind + ("; charset=utf-8" if kind.startswith("text/") or kind.endswith("json") else ""))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)


def make_server(port: int = 0, secret: str | None = None, extra_roots: dict[str, Path] | None = None, development_react=False) -> ExampleServer:
    roots = {"/clients/": REPO / "clients", "/examples/": REPO / "examples", **(extra_roots or {})}
    secret = secret or os.environ.get("HERALD_JWT_SECRET") or DEV_SECRET
    return ExampleServer(("127.0.0.1", port), secret, roots, development_react)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--development-react", action="store_true", help="React's development builds (better errors)")
    args = parser.parse_args()
    server = make_server(args.port, development_react=args.development_react)
    print(f"serving on http://127.0.0.1:{server.server_address[1]}/examples/  (tokens signed with "
          f"{'HERALD_JWT_SECRET' if os.environ.get('HERALD_JWT_SECRET') else 'the development secret'})", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
