"""Cold starts of the Lambda bootstraps without AWS: a fake Lambda Runtime API on loopback.

For each run, the bootstrap is spawned with AWS_LAMBDA_RUNTIME_API pointing here and the
function-name/version/memory variables Lambda sets. Two times are taken from the spawn:
  init   - until its first GET /2018-06-01/runtime/invocation/next (Lambda's end of init),
  first  - until the response to the one event it is handed (a real request against the
           emulators, so it includes the first connections to DynamoDB/S3).
Peak RSS (VmHWM) is read just after the first response. Figures only; nothing is asserted.

  python3 benches/cold_start.py BOOTSTRAP FUNCTION EVENT.json [RUNS]
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Run:
    def __init__(self, event: bytes):
        self.event = event
        self.start = 0.0
        self.init = None
        self.first = None
        self.status = None
        self.error = None
        self.handed = False
        self.done = threading.Event()


def handler_for(run: Run):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path != f"{PREFIX}/invocation/next":
                self.send_error(404)
                return
            if run.handed:
                # The runtime polls for its next event: hold it until the run ends.
                run.done.wait(30)
                self.close_connection = True
                return
            run.init = time.perf_counter() - run.start
            run.handed = True
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-request-1")
            deadline = int((time.time() + 30) * 1000)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
            self.send_header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.send_header("Content-Length", str(len(run.event)))
            self.end_headers()
            self.wfile.write(run.event)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.endswith("/response"):
                run.first = time.perf_counter() - run.start
                try:
                    run.status = json.loads(body).get("statusCode")
                except ValueError:
                    run.status = "unparsed"
            else:
                run.error = f"{self.path}: {body[:300]!r}"
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            run.done.set()

    return Handler


def peak_rss_mib(pid: int):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def one_run(bootstrap: str, function: str, event: bytes):
    run = Run(event)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(run))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update(
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME=f"vertexcloud-bench-{function}",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=os.environ.get("BENCH_MEMORY_MB", "1024"),
        AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/vertexcloud-bench-{function}",
        AWS_LAMBDA_LOG_STREAM_NAME="bench",
    )
    run.start = time.perf_counter()
    proc = subprocess.Popen([bootstrap], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run.done.wait(30)
    rss = peak_rss_mib(proc.pid)
    proc.kill()
    _, stderr = proc.communicate()
    server.shutdown()
    if run.error or run.first is None:
        sys.exit(f"{function}: no response ({run.error}); stderr: {stderr.decode()[-2000:]}")
    return run.init, run.first, run.status, rss


def main():
    bootstrap, function, event_file = sys.argv[1:4]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    event = open(event_file, "rb").read()
    results = [one_run(bootstrap, function, event) for _ in range(runs)]
    init = [r[0] * 1000 for r in results]
    first = [r[1] * 1000 for r in results]
    rss = [r[3] for r in results if r[3] is not None]
    size = os.path.getsize(bootstrap)
    print(
        f"{function:6} {size / 1e6:6.2f} MB  init p50 {statistics.median(init):6.1f} ms "
        f"(min {min(init):6.1f})  first response p50 {statistics.median(first):6.1f} ms "
        f"(min {min(first):6.1f})  status {results[0][2]}  peak RSS {max(rss, default=0):5.1f} MiB"
        f"  [{runs} runs, {os.path.basename(event_file)}]"
    )


if __name__ == "__main__":
    main()
