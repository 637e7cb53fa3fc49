"""Driver of benches/memory.sh: the local server's resident memory through one run of bursts."""
import argparse, os, resource, socket, subprocess, threading, time, urllib.error, urllib.request

from common import api

p = argparse.ArgumentParser()
p.add_argument("--port", type=int)
p.add_argument("--pid", type=int)
p.add_argument("--work")
p.add_argument("--logins", type=int, default=64)
p.add_argument("--connections", type=int, default=2000)
p.add_argument("--mib", type=int, default=1024)
p.add_argument("--rest-only", action="store_true", help="only the at-rest measures")
a = p.parse_args()
base, call = api(a.port)
PW = "correct horse battery"
TARGET_SETTLED_MIB = 64


def status(field):
    for line in open(f"/proc/{a.pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024


def reset_peak():
    with open(f"/proc/{a.pid}/clear_refs", "w") as f:
        f.write("5")


def settle(label, started):
    """Prints the burst's peak, then RSS over the next seconds and when it got under target."""
    peak = status("VmHWM")
    under, samples, t0 = None, {}, time.monotonic()
    while time.monotonic() - t0 < 5:
        rss, now = status("VmRSS"), time.monotonic() - t0
        if under is None and rss < TARGET_SETTLED_MIB:
            under = now
        for mark in (1, 3):
            if mark not in samples and now >= mark:
                samples[mark] = rss
        time.sleep(0.05)
    samples[5] = status("VmRSS")
    back = "never" if under is None else f"{under:.2f} s"
    print(f"{label}: took {started:.1f} s; peak {peak:.1f} MiB; settled "
          + ", ".join(f"{s} s: {v:.1f}" for s, v in sorted(samples.items()))
          + f" MiB; under {TARGET_SETTLED_MIB} MiB after {back}")


def logins():
    try:
        call("POST", "/auth/register", {"username": "bench", "email": "b@example.com",
                                        "password": PW, "password2": PW})
    except urllib.error.HTTPError:
        pass  # registered by rest_after_use
    codes, lock = {}, threading.Lock()

    def login():
        req = urllib.request.Request(base + "/auth/login", method="POST",
                                     data=f'{{"username":"bench","password":"{PW}"}}'.encode(),
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req) as r:
                code = r.status
        except urllib.error.HTTPError as e:
            code = e.code
        with lock:
            codes[code] = codes.get(code, 0) + 1

    reset_peak()
    t0 = time.monotonic()
    threads = [threading.Thread(target=login) for _ in range(a.logins)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    settle(f"{a.logins} concurrent logins (statuses {dict(sorted(codes.items()))})",
           time.monotonic() - t0)


def idle_connections():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, a.connections + 256)), hard))
    reset_peak()
    t0 = time.monotonic()
    socks = []
    for i in range(a.connections):
        s = socket.create_connection(("127.0.0.1", a.port))
        # Half of them send half a request line, as a slow client would.
        if i % 2:
            s.sendall(b"GET /api/hea")
        socks.append(s)
    time.sleep(1)
    opened = time.monotonic() - t0
    print(f"{a.connections} idle connections open: RSS {status('VmRSS'):.1f} MiB")
    for s in socks:
        s.close()
    settle(f"{a.connections} idle connections, closed", opened)


def transfer():
    t = call("POST", "/auth/login", {"username": "bench", "password": PW})["access"]
    big = os.path.join(a.work, "big.bin")
    with open(big, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(a.mib):
            f.write(chunk)
    for label, args in (
        (f"upload of {a.mib} MiB", ["-F", f"files=@{big}", f"{base}/files/upload"]),
        (f"download of {a.mib} MiB", [f"{base}/files/download?path=big.bin"]),
    ):
        reset_peak()
        t0 = time.monotonic()
        subprocess.run(["curl", "-sS", "-f", "-o", "/dev/null", "-H", f"authorization: Bearer {t}",
                        *args], check=True)
        settle(label, time.monotonic() - t0)
    os.remove(big)


def rest_after_use():
    """Issue 14's measure: resident memory at rest after 15 logins and 100 small uploads."""
    call("POST", "/auth/register", {"username": "bench", "email": "b@example.com",
                                    "password": PW, "password2": PW})
    for _ in range(15):
        t = call("POST", "/auth/login", {"username": "bench", "password": PW})["access"]
    small = os.path.join(a.work, "small.bin")
    for i in range(100):
        with open(small, "wb") as f:
            f.write(os.urandom(1024 + i))
        subprocess.run(["curl", "-sS", "-f", "-o", "/dev/null", "-H", f"authorization: Bearer {t}",
                        "-F", "path=small", "-F", f"files=@{small};filename=f{i}.bin",
                        f"{base}/files/upload"], check=True)
    os.remove(small)
    # Past the password hasher's linger (1 s) and any settling.
    time.sleep(3)
    print(f"at rest after 15 logins and 100 small uploads: RSS {status('VmRSS'):.1f} MiB "
          f"(peak {status('VmHWM'):.1f} MiB)")


time.sleep(2)
print(f"at rest: RSS {status('VmRSS'):.1f} MiB")
rest_after_use()
if not a.rest_only:
    logins()
    idle_connections()
    transfer()
