"""Driver of benches/compare.sh: every measure of issue 14 beside its peer, in one run.

Each measure runs VertexCloud and its peer back to back, `--reps` times, and keeps the median;
the table at the end has the figures, the ratio and the target. Figures only: nothing here
passes or fails. Every process started here is stopped on the way out.
"""
import argparse, atexit, http.client, json, os, re, shutil, signal, socket, statistics, subprocess, sys, time

from common import api, fresh_page_cache, part_files, put_parts

p = argparse.ArgumentParser()
p.add_argument("--bin", required=True, help="the vertexcloud binary")
p.add_argument("--argon2", required=True, help="the argon2_cost example binary")
p.add_argument("--work", required=True, help="a scratch directory (deleted by the caller)")
p.add_argument("--mib", type=int, default=1024, help="size of the big file")
p.add_argument("--reps", type=int, default=3)
p.add_argument("--wrk-secs", type=int, default=5)
p.add_argument("--ddb", help="DynamoDB Local endpoint: also count round trips on the aws backend")
p.add_argument("--s3", help="LocalStack S3 endpoint (with --ddb)")
a = p.parse_args()
HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = "1 GiB" if a.mib == 1024 else f"{a.mib} MiB"
PW = "correct horse battery"
PROCS = []
ROWS = []


# Stopped from outside (compare.sh's trap): still stop the servers on the way out.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@atexit.register
def stop_all():
    for proc in PROCS:
        if proc.poll() is None:
            proc.terminate()
    for proc in PROCS:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def spawn(cmd, log, **kw):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "wb"), **kw)
    PROCS.append(proc)
    return proc


def stop(proc):
    proc.terminate()
    proc.wait(10)
    PROCS.remove(proc)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_of(port, path="/", timeout=0.5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def wait_up(port, path="/", secs=60):
    deadline = time.monotonic() + secs
    while status_of(port, path) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing answers on port {port}")
        time.sleep(0.05)


def curl(*args):
    """Seconds curl took; the answer must be 2xx (else the servers' logs are shown)."""
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", *args],
                         check=True, capture_output=True, text=True).stdout.split()
    if not out[0].startswith("2"):
        for log in sorted(f for f in os.listdir(a.work) if f.endswith(".log")):
            print(f"--- {log}\n" + open(os.path.join(a.work, log), errors="replace").read()[-2000:])
        raise SystemExit(f"HTTP {out[0]} from curl {' '.join(args[-1:])}")
    return float(out[1])


def timed(cmd):
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, shell=True)
    return time.monotonic() - t0


def median(values):
    return statistics.median(values)


def row(measure, ours, peer, ratio, target):
    ROWS.append((measure, ours, peer, ratio, target))
    print(f"  {measure}: {ours} | {peer} | {ratio}", flush=True)


def rss_mib(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024


# --- the servers -------------------------------------------------------------------------------

class Vertex:
    """`vertexcloud serve` on a free port, with a registered and logged-in user."""

    def __init__(self, name, env=None, user=True):
        self.port = free_port()
        self.data = os.path.join(a.work, name)
        full_env = dict(os.environ, RUST_LOG="warn", VERTEX_MAX_FORM_BYTES=str(8 << 30), **(env or {}))
        self.proc = spawn([a.bin, "--data-dir", self.data, "serve", "--addr", f"127.0.0.1:{self.port}"],
                          os.path.join(a.work, f"{name}.log"), env=full_env)
        wait_up(self.port, "/api/health")
        self.base, self.call = api(self.port)
        if user:
            self.call("POST", "/auth/register", {"username": "bench", "email": "b@example.com",
                                                 "password": PW, "password2": PW})
            self.token = self.login()

    def login(self):
        return self.call("POST", "/auth/login", {"username": "bench", "password": PW})["access"]

    def auth(self):
        return ["-H", f"authorization: Bearer {self.token}"]

    def upload(self, files, folder=""):
        args = [x for f in files for x in ("-F", f"files=@{f}")]
        where = ["-F", f"path={folder}"] if folder else []
        return curl(*self.auth(), *where, "-F", "overwrite=true", *args, f"{self.base}/files/upload")


def start_nginx(root):
    port, conf = free_port(), os.path.join(a.work, "nginx.conf")
    temp = os.path.join(a.work, "nginx-temp")
    os.makedirs(temp, exist_ok=True)
    # Debian's defaults where they matter (sendfile, tcp_nopush, worker per core); no access log.
    with open(conf, "w") as f:
        f.write(f"""daemon off; user root; worker_processes auto; pid {a.work}/nginx.pid;
error_log {a.work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  sendfile on; tcp_nopush on; access_log off; default_type application/octet-stream;
  client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};
  uwsgi_temp_path {temp}; scgi_temp_path {temp};
  server {{ listen 127.0.0.1:{port}; root {root}; location / {{ autoindex on; autoindex_format json; }}
    # The upload peer: PUT through nginx's body buffering to a file, renamed into place.
    location /put/ {{ dav_methods PUT DELETE; create_full_put_path on; client_max_body_size 0; }} }}
}}
""")
    spawn(["nginx", "-c", conf, "-p", a.work], os.path.join(a.work, "nginx.log"))
    wait_up(port)
    return port


def start_rclone(root):
    port = free_port()
    env = dict(os.environ, RCLONE_CONFIG=os.path.join(a.work, "rclone.conf"))
    open(env["RCLONE_CONFIG"], "w").close()
    spawn(["rclone", "serve", "webdav", root, "--addr", f"127.0.0.1:{port}"],
          os.path.join(a.work, "rclone.log"), env=env)
    wait_up(port)
    return port


# --- the measures ------------------------------------------------------------------------------

def make_files(peer_root):
    big = os.path.join(peer_root, "big.bin")
    with open(big, "wb") as f:
        for _ in range(a.mib):
            f.write(os.urandom(1 << 20))
    small = os.path.join(peer_root, "f100")
    os.makedirs(small)
    for i in range(100):
        with open(os.path.join(small, f"file{i:03d}.txt"), "wb") as f:
            f.write(os.urandom(1024))
    return big, sorted(os.path.join(small, n) for n in os.listdir(small))


def form_upload(vc, big, nginx, rclone):
    cp_dest, ours, cp, ng, rc = os.path.join(a.work, "cp.bin"), [], [], [], []
    fresh_page_cache(big)
    for i in range(a.reps):
        ours.append(a.mib / vc.upload([big]))
        cp.append(a.mib / timed(f"cp {big} {cp_dest} && sync"))
        os.remove(cp_dest)
        ng.append(a.mib / timed(f"curl -sS -T {big} http://127.0.0.1:{nginx}/put/big.bin && sync"))
        rc.append(a.mib / curl("-T", big, f"http://127.0.0.1:{rclone}/put.bin"))
        os.remove(os.path.join(os.path.dirname(big), "put.bin"))
        shutil.rmtree(os.path.join(os.path.dirname(big), "put"))
    ours, cp, ng, rc = median(ours), median(cp), median(ng), median(rc)
    row(f"form upload {SIZE} (curl -F)", f"{ours:,.0f} MiB/s",
        f"cp + sync {cp:,.0f} MiB/s; nginx PUT + sync {ng:,.0f}; rclone PUT {rc:,.0f}",
        f"{ours / cp:.2f}× cp ({ours / ng:.2f}× nginx)", "≥ 0.6× cp + sync")
    return cp


def download(vc, nginx, rclone):
    ours, ng, rc = [], [], []
    for _ in range(a.reps):
        ours.append(a.mib / curl(*vc.auth(), f"{vc.base}/files/download?path=big.bin"))
        ng.append(a.mib / curl(f"http://127.0.0.1:{nginx}/big.bin"))
        rc.append(a.mib / curl(f"http://127.0.0.1:{rclone}/big.bin"))
    ours, ng, rc = median(ours), median(ng), median(rc)
    row(f"download {SIZE} (curl)", f"{ours:,.0f} MiB/s", f"nginx {ng:,.0f} MiB/s; rclone {rc:,.0f}",
        f"{ours / ng:.2f}× nginx", "≥ 0.9× nginx")


def direct_upload(vc, big, workers, i):
    t0 = time.monotonic()
    up = vc.call("POST", "/files/uploads", {"path": f"direct-{i}.bin", "size": a.mib << 20}, vc.token)
    folder = part_files(big, up["part_size"], os.path.join(a.work, f"parts-{up['part_size']}"))
    parts = put_parts(up["parts"], folder, workers)
    vc.call("POST", f"/files/uploads/{up['upload_id']}/complete", {"parts": parts}, vc.token)
    secs = time.monotonic() - t0
    vc.call("POST", "/files/delete", {"path": f"direct-{i}.bin"}, vc.token)
    return a.mib / secs, up["part_size"] >> 20


def nginx_parts(nginx, folder, workers):
    """The same parts PUT to nginx as files, by the same curl, then synced: the HTTP peer."""
    parts = [{"part_number": n + 1, "url": f"http://127.0.0.1:{nginx}/put/parts/{n:05d}"}
             for n in range(len(os.listdir(folder)))]
    t0 = time.monotonic()
    put_parts(parts, folder, workers, expect="201")
    subprocess.run(["sync"], check=True)
    secs = time.monotonic() - t0
    shutil.rmtree(os.path.join(a.work, "peer", "put"))
    return a.mib / secs


def direct_uploads(vc, big, nginx, cp):
    folder = part_files(big, 16 << 20, os.path.join(a.work, f"parts-{16 << 20}"))  # up to 16 GB
    fresh_page_cache(big)
    for workers, target in ((1, "≥ 0.6× cp + sync"), (4, "≥ 0.8× cp + sync")):
        runs = [direct_upload(vc, big, workers, i) for i in range(a.reps)]
        ng = median(nginx_parts(nginx, folder, workers) for _ in range(a.reps))
        ours = median(r[0] for r in runs)
        how = "sequential" if workers == 1 else f"{workers} in parallel"
        row(f"direct upload {SIZE} in {runs[0][1]} MiB parts, {how}", f"{ours:,.0f} MiB/s",
            f"cp + sync {cp:,.0f} MiB/s; nginx PUT of the parts + sync {ng:,.0f}",
            f"{ours / cp:.2f}× cp ({ours / ng:.2f}× nginx)", target)


def wrk(url, method="GET", headers=""):
    env = dict(os.environ, WRK_METHOD=method, WRK_HEADERS=headers)
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{a.wrk_secs}s", "-s", os.path.join(HERE, "wrk_request.lua"), url],
                         check=True, capture_output=True, text=True, env=env).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert not bad, f"{url}: {bad.group(0)}"
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def listing(vc, nginx, rclone):
    ours, ng, rc = [], [], []
    for _ in range(a.reps):
        ours.append(wrk(f"{vc.base}/files/list?path=f100&limit=100", headers=f"Authorization: Bearer {vc.token}"))
        ng.append(wrk(f"http://127.0.0.1:{nginx}/f100/"))
        rc.append(wrk(f"http://127.0.0.1:{rclone}/f100/", "PROPFIND", "Depth: 1"))
    ours, ng, rc = median(ours), median(ng), median(rc)
    row("authenticated list of a 100-file folder (wrk, 16 conns)", f"{ours:,.0f} req/s",
        f"nginx autoindex JSON {ng:,.0f}; rclone PROPFIND {rc:,.0f}", f"{ours / ng:.2f}× nginx", "≥ 0.5× nginx")


def login(vc):
    times = []
    for _ in range(31):
        t0 = time.monotonic()
        vc.login()
        times.append((time.monotonic() - t0) * 1000)
    ours = median(times)
    out = subprocess.run([a.argon2], check=True, capture_output=True, text=True).stdout
    hash_ms = float(re.search(r"hash p50 ([\d.]+) ms", out).group(1))
    row("login p50 / one argon2id hash at the same parameters", f"{ours:.1f} ms", f"hash {hash_ms:.1f} ms",
        f"{ours / hash_ms:.2f}×", "≤ 1.1×")


def cold_start(runs=11):
    """Spawn → first 200 on /api/health, over a data directory an earlier start set up."""
    data = os.path.join(a.work, "start")
    times = []
    for _ in range(runs):
        port = free_port()
        t0 = time.monotonic()
        proc = spawn([a.bin, "--data-dir", data, "serve", "--addr", f"127.0.0.1:{port}"],
                     os.path.join(a.work, "start.log"), env=dict(os.environ, RUST_LOG="warn"))
        while status_of(port, "/api/health") != 200:
            assert proc.poll() is None, "the server exited"
            time.sleep(0.001)
        times.append((time.monotonic() - t0) * 1000)
        stop(proc)
    ours = median(times[1:])  # the first run creates the data directory
    row("process start → first 200 on /api/health", f"{ours:.0f} ms", "—", "—", "< 30 ms")


def memory_at_rest():
    vc = Vertex("memory")
    small = os.path.join(a.work, "small.txt")
    with open(small, "wb") as f:
        f.write(os.urandom(1024))
    for _ in range(15):
        vc.login()
    for i in range(100):
        curl(*vc.auth(), "-F", f"files=@{small};filename=small-{i}.txt", f"{vc.base}/files/upload")
    time.sleep(2)
    ours = rss_mib(vc.proc.pid)
    row("resident memory at rest after 15 logins and 100 small uploads", f"{ours:.1f} MiB", "—", "—", "< 40 MiB")
    stop(vc.proc)


def dynamo_round_trips(small_files):
    calls = os.path.join(a.work, "aws-calls.jsonl")
    env = dict(VERTEX_BACKEND="aws", VERTEX_TABLE="vertexcloud-bench", VERTEX_BUCKET="vertexcloud-bench",
               VERTEX_JWT_SECRET="bench-only-secret-0123456789abcdef0123456789",
               AWS_ENDPOINT_URL_DYNAMODB=a.ddb, AWS_ENDPOINT_URL_S3=a.s3, AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    for attempt in range(4):  # the emulators can be slow to take their first requests
        made = subprocess.run([a.bin, "create-storage"], env=dict(os.environ, **env),
                              stdout=subprocess.DEVNULL)
        if made.returncode == 0:
            break
        time.sleep(5)
    made.check_returncode()
    vc = Vertex("aws", dict(env, VERTEX_RECORD_AWS_CALLS=calls))
    vc.upload(small_files, "f100")

    def per_request(path, n=20):
        open(calls, "w").close()
        for _ in range(n):
            vc.call("GET", path, token=vc.token)
        ops = [json.loads(line) for line in open(calls)]
        ops = [o["operation"] for o in ops if o["service"] == "DynamoDB"]
        return len(ops) / n, sorted(set(ops))

    for label, path in (("listing", "/files/list?path=f100&limit=100"), ("credential check", "/auth/profile")):
        trips, ops = per_request(path)
        row(f"DynamoDB round trips per request: {label} (aws backend, `GET /api{path.split('?')[0]}`)",
            f"{trips:g}", "operations: " + ", ".join(ops), "—", "≤ 1")
    stop(vc.proc)


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    peer_root = os.path.join(a.work, "peer")
    os.makedirs(peer_root)
    print(f"load before: {load()}", flush=True)
    big, small_files = make_files(peer_root)
    nginx, rclone = start_nginx(peer_root), start_rclone(peer_root)
    vc = Vertex("vertex")
    vc.upload(small_files, "f100")
    cp = form_upload(vc, big, nginx, rclone)
    download(vc, nginx, rclone)
    direct_uploads(vc, big, nginx, cp)
    listing(vc, nginx, rclone)
    login(vc)
    stop(vc.proc)
    shutil.rmtree(vc.data)
    cold_start()
    memory_at_rest()
    if a.ddb:
        dynamo_round_trips(small_files)
    print(f"load after: {load()}; {os.cpu_count()} CPUs; medians of {a.reps} runs\n")
    print("| measure | VertexCloud | peer in the same run | ratio | target |")
    print("|---|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")


main()
