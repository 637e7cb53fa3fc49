"""Shared by the benchmark drivers: the API through urllib, and the server's peak RSS."""
import json, urllib.request


def api(port):
    """`call(method, path, body=None, token=None)` against the local server's /api."""
    base = f"http://127.0.0.1:{port}/api"

    def call(method, path, body=None, token=None):
        req = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read() or b"null")

    return base, call


def reset_peak(pid):
    """Starts VmHWM over from the current RSS."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def peak_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
