"""Driver of benches/start.sh: process start -> first 200 on /api/health, fresh and restarted."""
import argparse, os, socket, statistics, subprocess, tempfile, time

p = argparse.ArgumentParser()
p.add_argument("--bin")
p.add_argument("--runs", type=int, default=15)
a = p.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health(port):
    """The status of one GET /api/health, or None while nothing listens."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return int(s.recv(64).split(b" ")[1])
    except (ConnectionRefusedError, IndexError, ValueError, OSError):
        return None


def start(data):
    """Milliseconds from spawn to the first 200, and the server's RSS then."""
    port = free_port()
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    t0 = time.perf_counter()
    proc = subprocess.Popen([a.bin, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        while health(port) != 200:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited with {proc.returncode}")
            if time.perf_counter() - t0 > 30:
                raise SystemExit("no 200 within 30 s")
            time.sleep(0.0005)
        ms = (time.perf_counter() - t0) * 1000
        rss = next(int(l.split()[1]) / 1024 for l in open(f"/proc/{proc.pid}/status")
                   if l.startswith("VmRSS:"))
        return ms, rss
    finally:
        proc.terminate()
        proc.wait()


with tempfile.TemporaryDirectory() as tmp:
    fresh = [start(os.path.join(tmp, f"fresh-{i}")) for i in range(a.runs)]
    again = [start(os.path.join(tmp, "fresh-0")) for _ in range(a.runs)]
for label, runs in (("first start (new data dir)", fresh), ("restart (existing data dir)", again)):
    ms = sorted(m for m, _ in runs)
    print(f"{label}: spawn -> first 200 on /api/health p50 {statistics.median(ms):.1f} ms, "
          f"min {ms[0]:.1f}, max {ms[-1]:.1f} ({len(ms)} runs); "
          f"RSS then {statistics.median(r for _, r in runs):.1f} MiB")
