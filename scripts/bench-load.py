"""The load mode of scripts/bench-service (run it through that script): JOBS chart pages through 2 workers."""
import csv
import datetime
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

jobs, plot, work = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
SOURCES = ["fixtures/scans/phototest.tif", "fixtures/charts/phototest-g4.pdf", "fixtures/charts/phototest-jpeg.pdf",
           "fixtures/scans/phototest-rotated-180.png", "fixtures/scans/phototestrot.tif"]
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def cpu_seconds(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError):
        return 0.0


def rss_mib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def engine_seconds(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("him_engine_seconds_total"))


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


tag = f"load-{os.getpid()}"
store = work / f"store-{tag}"
prefix = f"him-bench-{tag}"
ports = [free_port(), free_port()]
configs = []
for n, port in enumerate(ports):
    path = work / f"{tag}-{n}.toml"
    path.write_text(f'[store]\nurl = "{store}"\n[queue]\nprefix = "{prefix}"\n[worker]\n'
                    f'metrics_listen = "127.0.0.1:{port}"\n[ocr]\nworkers = 1\n')
    configs.append(path)
inputs = work / "in"
inputs.mkdir()
files = []
for i in range(jobs):
    data = Path(SOURCES[i % len(SOURCES)]).read_bytes() + f"\n%% {tag} {i}\n".encode()
    path = inputs / f"{i:05d}"
    path.write_bytes(data)
    files.append(str(path))

procs = [subprocess.Popen(["target/release/him", "worker", "--config", str(c), "--kinds", "charts"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in configs]
for port in ports:
    deadline = time.time() + 60
    while True:
        try:
            engine_seconds(port)
            break
        except OSError:
            if time.time() > deadline:
                sys.exit("bench-service: a worker did not start")
            time.sleep(0.2)

index = store / "index"
samples = []  # t, waiting, filed, cpu% per worker, rss per worker
rss_at_10pct = None
stop = threading.Event()
start = time.time()
cpu0 = [cpu_seconds(p.pid) for p in procs]
engine0 = sum(engine_seconds(port) for port in ports)


def sample():
    global rss_at_10pct
    last_cpu, last_t = list(cpu0), time.time()
    while not stop.is_set():
        time.sleep(1)
        now = time.time()
        filed = len(os.listdir(index)) if index.is_dir() else 0
        queued = len(list((store / "intake").glob("*/queued.json"))) if (store / "intake").is_dir() else 0
        cpu = [cpu_seconds(p.pid) for p in procs]
        busy = [(c - l) / (now - last_t) * 100 for c, l in zip(cpu, last_cpu)]
        last_cpu, last_t = cpu, now
        rss = [rss_mib(p.pid) for p in procs]
        if rss_at_10pct is None and filed >= jobs // 10:
            rss_at_10pct = rss
        samples.append((round(now - start, 1), max(queued - filed, 0), filed, *busy, *rss))


sampler = threading.Thread(target=sample)
sampler.start()
submit = subprocess.run(["target/release/him", "submit", "--config", str(configs[0]), *files], capture_output=True,
                        text=True)
submitted_s = time.time() - start
if submit.returncode != 0:
    sys.exit(f"bench-service: him submit failed: {submit.stderr[-2000:]}")
while not (index.is_dir() and len(os.listdir(index)) >= jobs):
    time.sleep(0.5)
wall = time.time() - start
engine = sum(engine_seconds(port) for port in ports) - engine0
cpu = [cpu_seconds(p.pid) - c for p, c in zip(procs, cpu0)]
rss_end = [rss_mib(p.pid) for p in procs]
stop.set()
sampler.join()
for p in procs:
    p.terminate()
for p in procs:
    p.wait()
for name in ("charts", "charts.stat", "dictations", "dictations.stat", "dead-letter", "events"):
    subprocess.run(["rabbitmqctl", "-q", "delete_queue", f"{prefix}.{name}"], capture_output=True)

latencies = []
first_submit, last_filed = None, None
for entry_path in index.iterdir():
    entry = json.loads(entry_path.read_text())
    submitted, filed = parse_time(entry["submitted_at"]), parse_time(entry["filed_at"])
    latencies.append(filed - submitted)
    first_submit = submitted if first_submit is None else min(first_submit, submitted)
    last_filed = filed if last_filed is None else max(last_filed, filed)
busy_window = last_filed - first_submit
plot.parent.mkdir(parents=True, exist_ok=True)
csv_path = plot.with_suffix(".csv")
with open(csv_path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["t", "waiting", "filed"])
    for row in samples:
        writer.writerow(row[:3])
subprocess.run(["python3", "scripts/plot-series", str(csv_path), str(plot), "--title",
                f"{jobs} chart jobs, 2 workers: documents waiting and filed", "--ylabel", "documents"], check=True)

print(f"{'jobs':>5} {'submit s':>9} {'wall s':>7} {'jobs/s':>7} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} "
      f"{'engine busy %':>14} {'worker CPU %':>13}")
print(f"{jobs:>5} {submitted_s:>9.1f} {wall:>7.1f} {jobs / busy_window:>7.2f} {percentile(latencies, 50):>7.1f} "
      f"{percentile(latencies, 95):>7.1f} {percentile(latencies, 99):>7.1f} "
      f"{engine / (2 * busy_window) * 100:>14.1f} {sum(cpu) / (2 * busy_window) * 100:>13.1f}")
print()
print(f"{'worker':>6} {'RSS MiB at 10 % of jobs':>24} {'RSS MiB at the end':>19} {'change %':>9}")
for n in range(2):
    early = (rss_at_10pct or rss_end)[n]
    print(f"{n:>6} {early:>24.1f} {rss_end[n]:>19.1f} {(rss_end[n] - early) / early * 100:>+9.1f}")
print()
print(f"(jobs/s and busy shares over the window from the first submission to the last filing, "
      f"{busy_window:.0f} s; engine busy: him_engine_seconds_total / (2 engines x window); worker CPU: "
      f"utime+stime of both workers / (2 cores x window); queue depth: {csv_path}, plot: {plot})")
