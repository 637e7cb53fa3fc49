"""Shared by the benchmark drivers: the API through urllib, direct-upload parts through curl,
the page cache, and the server's peak RSS."""
import json, os, subprocess, urllib.request


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


def fresh_page_cache(*warm):
    """Empties the page cache (when allowed: root), then reads `warm` back into it. Left full of
    earlier runs' files, every fresh page an upload or `cp` needs first costs a reclaim, and the
    figures wandered by half from run to run."""
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
    except OSError:
        return
    for path in warm:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def part_files(big, part_size, folder):
    """`big` cut into one file per part in `folder`, once (not timed, like `big` itself)."""
    if not os.path.isdir(folder):
        os.makedirs(folder)
        subprocess.run(["split", "-b", str(part_size), "-d", "-a", "5", big, f"{folder}/"], check=True)
    return folder


def put_parts(parts, folder, parallel, expect="200"):
    """Every part through its signed URL by one curl process, `parallel` transfers at a time,
    connections reused: the client of the form upload, so that the two compare (a Python client
    cost as much CPU as the server). `folder` holds the parts (`part_files`). The parts for
    completion, in order."""
    args = ["curl", "-sS", "--parallel", "--parallel-max", str(parallel),
            "-w", "%{http_code} %{url} %header{etag}\n"]
    for part in parts:
        args += ["-T", f"{folder}/{part['part_number'] - 1:05d}", part["url"], "-o", "/dev/null"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    number = {part["url"]: part["part_number"] for part in parts}
    done = []
    for line in out.splitlines():
        code, url, etag = line.split(" ", 2)
        assert code == expect, line
        done.append({"part_number": number[url], "etag": etag})
    return sorted(done, key=lambda p: p["part_number"])
