"""Driver of benches/files.sh: talks to the local server with curl and the standard library."""
import argparse, json, os, sqlite3, statistics, subprocess, time, urllib.request

import common
from common import api

p = argparse.ArgumentParser()
p.add_argument("--port", type=int)
p.add_argument("--pid", type=int)
p.add_argument("--work")
p.add_argument("--mib", type=int, default=1024)
p.add_argument("--phase")
p.add_argument("--reps", type=int, default=3)
p.add_argument("--only", help="some of form,seq,par (default all)")
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


def big_file():
    big = os.path.join(a.work, "big.bin")
    if not os.path.exists(big) or os.path.getsize(big) != a.mib << 20:
        with open(big, "wb") as f:
            chunk = os.urandom(1 << 20)
            for _ in range(a.mib):
                f.write(chunk)
    return big


def cp_sync(big, rep):
    """The disk's pace: `cp` of the same file on the same disk, then its fsync (`sync FILE`)."""
    dest = os.path.join(a.work, f"cp-{rep}.bin")
    started = time.monotonic()
    subprocess.run(["cp", big, dest], check=True)
    subprocess.run(["sync", dest], check=True)
    secs = time.monotonic() - started
    os.remove(dest)
    return secs


def part_folder(part_size):
    return os.path.join(a.work, f"parts-{part_size}")


def direct(t, big, name, parallel):
    """A direct upload of `big` in parts through the signed URLs, `parallel` PUTs at a time."""
    started = time.monotonic()
    up = call("POST", "/files/uploads", {"path": name, "size": a.mib << 20}, t)
    folder = common.part_files(big, up["part_size"], part_folder(up["part_size"]))
    parts = common.put_parts(up["parts"], folder, parallel)
    call("POST", f"/files/uploads/{up['upload_id']}/complete", {"parts": parts}, t)
    return time.monotonic() - started


def median(xs):
    return statistics.median(xs)


def cpu_secs():
    """The server's CPU time so far (user + system): what an upload costs, whatever the load."""
    with open(f"/proc/{a.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_upload(t, big, kind, rep):
    """One upload of `big` of the given kind; its duration."""
    if kind == "form":
        return curl("-H", f"authorization: Bearer {t}", "-F", f"path=form{rep}",
                    "-F", f"files=@{big}", f"{base}/files/upload")
    return direct(t, big, f"direct-{kind}-{rep}.bin", 1 if kind == "seq" else 4)


def uploads(t, big):
    """Each upload measure `a.reps` times, interleaved with `cp` + sync, medians printed."""
    kinds = a.only.split(",") if a.only else ["form", "seq", "par"]
    common.part_files(big, 16 << 20, part_folder(16 << 20))  # the server's part size up to 16 GB
    common.fresh_page_cache(big)
    runs = {k: [] for k in ["cp", *kinds]}
    cpu = {k: [] for k in kinds}
    peaks = {k: 0.0 for k in kinds}
    for rep in range(a.reps):
        runs["cp"].append(cp_sync(big, rep))
        for kind in kinds:
            reset_peak()
            before = cpu_secs()
            runs[kind].append(one_upload(t, big, kind, rep))
            cpu[kind].append(cpu_secs() - before)
            peaks[kind] = max(peaks[kind], peak_mib())
            # Gone at once, so the disk holds one copy at a time.
            name = f"form{rep}" if kind == "form" else f"direct-{kind}-{rep}.bin"
            call("POST", "/files/delete", {"path": name}, t)
    rate = {k: a.mib / median(v) for k, v in runs.items()}
    parts = -(-a.mib // 16)  # the server's part size up to 16 GB
    labels = {"cp": "cp + sync (same disk)", "form": "form upload (curl -F)",
              "seq": f"direct, {parts} parts of 16 MiB, 1 at a time", "par": "direct, same parts, 4 at a time"}
    print(f"uploads of {a.mib} MiB, {a.reps} runs each, medians (load: {os.getloadavg()[0]:.2f}):")
    for k in runs:
        vs = "" if k == "cp" else (f"  {rate[k] / rate['cp']:.2f}x cp  peak RSS {peaks[k]:.0f} MiB"
                                   f"  server CPU {median(cpu[k]) * 1024 / a.mib:.2f} s/GiB")
        print(f"  {labels[k]:<40} {rate[k]:6.0f} MiB/s{vs}  "
              f"(runs: {', '.join(f'{a.mib / s:.0f}' for s in runs[k])})")


if a.phase == "transfer":
    t = token()
    big = big_file()
    size = a.mib / 1024
    print(f"server RSS at rest: {peak_mib():.1f} MiB")
    uploads(t, big)
    curl("-H", f"authorization: Bearer {t}", "-F", f"files=@{big}", f"{base}/files/upload")
    reset_peak()
    secs = curl("-H", f"authorization: Bearer {t}", f"{base}/files/download?path=big.bin")
    print(f"download {size:.2f} GiB: {secs:.1f} s, {a.mib / secs:.0f} MiB/s, server peak RSS {peak_mib():.1f} MiB")

elif a.phase == "uploads":
    uploads(token(), big_file())

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
