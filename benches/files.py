"""Driver of benches/files.sh: talks to the local server with curl and the standard library."""
import argparse, json, os, sqlite3, subprocess, time, urllib.request

import common
from common import api

p = argparse.ArgumentParser()
p.add_argument("--port", type=int)
p.add_argument("--pid", type=int)
p.add_argument("--work")
p.add_argument("--mib", type=int, default=1024)
p.add_argument("--phase")
a = p.parse_args()
base, call = api(a.port)
state = os.path.join(a.work, "bench.json")


def token():
    if os.path.exists(state):
        return json.load(open(state))["token"]
    pw = "correct horse battery"
    call("POST", "/auth/register", {"username": "bench", "email": "b@example.com",
                                    "password": pw, "password2": pw})
    t = call("POST", "/auth/login", {"username": "bench", "password": pw})["access"]
    json.dump({"token": t, "user": call("GET", "/auth/profile", token=t)["id"]}, open(state, "w"))
    return t


def reset_peak():
    common.reset_peak(a.pid)


def peak_mib():
    return common.peak_mib(a.pid)


def curl(*args):
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", *args],
                         check=True, capture_output=True, text=True).stdout.split()
    assert out[0] in ("200", "201"), out
    return float(out[1])


if a.phase == "transfer":
    t = token()
    big = os.path.join(a.work, "big.bin")
    with open(big, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(a.mib):
            f.write(chunk)
    size = a.mib / 1024
    print(f"server RSS at rest: {peak_mib():.1f} MiB")
    reset_peak()
    secs = curl("-H", f"authorization: Bearer {t}", "-F", f"files=@{big}", f"{base}/files/upload")
    print(f"form upload {size:.2f} GiB: {secs:.1f} s, {a.mib / secs:.0f} MiB/s, server peak RSS {peak_mib():.1f} MiB")
    reset_peak()
    secs = curl("-H", f"authorization: Bearer {t}", f"{base}/files/download?path=big.bin")
    print(f"download {size:.2f} GiB: {secs:.1f} s, {a.mib / secs:.0f} MiB/s, server peak RSS {peak_mib():.1f} MiB")
    reset_peak()
    started = time.monotonic()
    up = call("POST", "/files/uploads", {"path": "direct.bin", "size": a.mib << 20}, t)
    parts = []
    with open(big, "rb") as f:
        for part in up["parts"]:
            f.seek((part["part_number"] - 1) * up["part_size"])
            req = urllib.request.Request(part["url"], data=f.read(part["size"]), method="PUT")
            with urllib.request.urlopen(req) as r:
                parts.append({"part_number": part["part_number"], "etag": r.headers["etag"]})
    call("POST", f"/files/uploads/{up['upload_id']}/complete", {"parts": parts}, t)
    secs = time.monotonic() - started
    print(f"direct upload {size:.2f} GiB in {len(parts)} parts of {up['part_size'] >> 20} MiB "
          f"(sequential): {secs:.1f} s, {a.mib / secs:.0f} MiB/s, server peak RSS {peak_mib():.1f} MiB")

elif a.phase == "copy":
    t = token()
    files = os.path.join(a.work, "small")
    os.makedirs(files, exist_ok=True)
    for batch in range(4):
        args = []
        for i in range(500):
            name = os.path.join(files, f"f{batch:01d}{i:04d}.txt")
            with open(name, "wb") as f:
                f.write(os.urandom(1024))
            args += ["-F", f"files=@{name}"]
        curl("-H", f"authorization: Bearer {t}", "-F", "path=src", *args, f"{base}/files/upload")
    call("POST", "/files/create-folder", {"parent_path": "", "folder_name": "dst"}, t)
    started = time.monotonic()
    call("POST", "/files/copy", {"source_path": "src", "dest_path": "dst"}, t)
    print(f"copy of a folder of 2,000 files of 1 KiB (16 at a time): {time.monotonic() - started:.2f} s")

elif a.phase == "populate":
    user = json.load(open(state))["user"]
    db = sqlite3.connect(os.path.join(a.work, "server", "objects", "index.db"))
    now = int(time.time() * 1000)
    for folder, n in (("f100", 100), ("f100k", 100_000)):
        db.executemany(
            "INSERT INTO objects (key, blob, size, etag, content_type, modified) VALUES (?, NULL, 0, ?, 'text/plain', ?)",
            ((f"users/{user}/{folder}/file{i:06d}.txt", '"d41d8cd98f00b204e9800998ecf8427e"', now) for i in range(n)))
    db.commit()

elif a.phase == "list":
    t = token()
    for folder in ("f100", "f100k"):
        times = []
        for _ in range(50):
            times.append(curl("-H", f"authorization: Bearer {t}", f"{base}/files/list?path={folder}&limit=100") * 1000)
        times.sort()
        print(f"first page (100 items) of a folder of {folder[1:]} files: p50 {times[25]:.1f} ms, p95 {times[47]:.1f} ms")
