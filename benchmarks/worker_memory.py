"""Measure whether a depositum worker's memory grows across ingests.

The script sets up a private depositum in a temporary data directory, starts the
web server alone (`depositum serve --no-worker`) and one `depositum worker
--threads 1` process on 127.0.0.1, then deposits DIPs one after another. The DIPs
are built around the real METS files in tests/fixtures/mets by tests/dips.py,
and each deposit gets a fresh AIP UUID, so every ingest creates new descriptions
and none replaces an earlier one.

It reads the worker's resident set size (VmRSS in /proc/<pid>/status) after a
warm-up and after every deposit, and the peak RSS (VmHWM) of each ingest child
process while it runs. The result is a table and the line

    worker RSS growth: X % over N jobs (target: at most 5 %)

The exit status is 0 whenever the measurement ran, whatever the growth. It is 1
when the benchmark could not run (the server did not start, the worker exited, a
deposit was rejected or did not end in time) and 130 after Ctrl-C or SIGTERM.
It needs Linux, for /proc.

Usage: python benchmarks/worker_memory.py [--jobs N] [--warmup N] [--upload]
       [--csv FILE] [--keep]
"""

import argparse
import csv
import io
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from datetime import datetime
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.dips import build_dip  # noqa: E402

METS_DIR = REPO / "tests" / "fixtures" / "mets"
DIP_PACKAGING = "http://purl.org/net/sword-types/METSArchivematicaDIP"
USER = ("bench", "bench-password", "bench@example.org")
TARGET = "bench-fonds"
GROWTH_TARGET_PERCENT = 5.0
# Seconds between two reads of the ingest children's peak RSS. VmHWM keeps the
# peak since the process started, so a read misses only the growth in the last
# interval before the child exits.
SAMPLE_INTERVAL = 0.02
# Seconds between two polls of a deposit's status.
POLL_INTERVAL = 0.05
DEPOSIT_TIMEOUT = 300


class Stopped(Exception):
    """Raised when the script receives SIGTERM."""


# Machine and processes ---------------------------------------------------------


def cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average():
    """Return the 1-minute load average from /proc/loadavg."""
    with open("/proc/loadavg") as loadavg:
        return float(loadavg.read().split()[0])


def proc_status_kb(pid, field):
    """Return a kB field of /proc/<pid>/status (VmRSS, VmHWM), or None if the
    process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def child_pids(pid):
    """Return the ids of the processes whose parent is `pid`."""
    children = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                # The command name in brackets may contain spaces; the parent
                # id is the second field after its closing bracket.
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def tree_rss_kb(pid):
    """Return the summed VmRSS of `pid` and all its descendants.

    Pages that two of the processes share are counted twice.
    """
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        total += proc_status_kb(current, "VmRSS") or 0
        pending.extend(child_pids(current))
    return total


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The private depositum ---------------------------------------------------------


class Service:
    """The web server and the worker, each in a process group of its own, so a
    Ctrl-C in the terminal reaches only this script, which stops them in order."""

    def __init__(
        self, root, *, database_url=None, queue_url=None, extra_env=None, python=None
    ):
        # The Python of the virtualenv that depositum runs from.
        self.python = python or sys.executable
        self.data_dir = root / "data"
        self.deposit_dir = self.data_dir / "deposits"
        self.upload_dir = self.data_dir / "uploads"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = private_environment(self.data_dir)
        if database_url:
            self.env["DATABASE_URL"] = database_url
        if queue_url:
            self.env["DEPOSITUM_QUEUE_URL"] = queue_url
        self.env.update(extra_env or {})
        self.server = None
        self.worker = None

    def manage(self, *args):
        """Run a depositum management command and raise if it fails."""
        result = subprocess.run(
            [self.python, "-m", "depositum", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"depositum {' '.join(args)} failed with status"
                f" {result.returncode}:\n{result.stdout}{result.stderr}"
            )

    def start(self, *, worker=True):
        self.deposit_dir.mkdir(parents=True)
        self.manage("migrate", "-v0")
        self.manage("createuser", USER[0], "--password", USER[1], "--email", USER[2])
        self.manage(
            "createtarget", TARGET, "--title", "Benchmark fonds", "--grant", USER[0]
        )

        bind = f"127.0.0.1:{self.port}"
        self.server = self.spawn("server.log", "serve", "--no-worker", "--bind", bind)
        self.wait_until_up()
        if worker:
            self.worker = self.spawn("worker.log", "worker", "--threads", "1")

    def spawn(self, log_name, *args):
        # The access log of every request would cost a benchmark time on a
        # machine with few cores, so it goes to a file like the rest.
        with open(self.data_dir / log_name, "ab") as log:
            return subprocess.Popen(
                [self.python, "-m", "depositum", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_up(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(
                    f"depositum serve exited with status {self.server.returncode}:"
                    f"\n{self.log_tail('server.log')}"
                )
            try:
                if requests.get(self.url + "/healthz", timeout=5).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"depositum serve on {self.url} timed out: no response in {timeout}s:"
            f"\n{self.log_tail('server.log')}"
        )

    def server_pids(self):
        """Return the gunicorn master's pid and its workers' pids."""
        return [self.server.pid, *child_pids(self.server.pid)]

    def check_worker(self):
        if self.worker.poll() is not None:
            raise RuntimeError(
                f"depositum worker exited with status {self.worker.returncode}:"
                f"\n{self.log_tail('worker.log')}"
            )

    def log_tail(self, log_name, lines=30):
        try:
            text = (self.data_dir / log_name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self):
        """Stop the worker, then the web server: SIGTERM, then SIGKILL after 30 s.

        Each was started as the leader of a new process group, so killing the
        group afterwards also ends a forkserver, ingest child or gunicorn
        worker that outlived its parent.
        """
        for process in (self.worker, self.server):
            if process is None:
                continue
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    print(f"process {process.pid} did not stop in 30 s; killing it")
                    process.kill()
                    process.wait()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def private_environment(data_dir):
    """Return an environment that points every depositum setting at `data_dir`.

    Settings inherited from the calling shell are dropped, so the benchmark
    never writes to a real database, queue or deposit directory.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DEPOSITUM_") and name != "DATABASE_URL"
    }
    env.update(
        {
            "DEPOSITUM_DATA_DIR": str(data_dir),
            "DJANGO_SETTINGS_MODULE": "depositum.settings",
            "DEPOSITUM_LOG_LEVEL": "INFO",
            # A stopped worker hands a running ingest back after this many
            # seconds, instead of 60, so that cleanup is quick.
            "DEPOSITUM_STOP_TIMEOUT": "5",
        }
    )
    return env


# DIPs -------------------------------------------------------------------------


class Template:
    """A DIP folder built once around a fixture METS, copied for each deposit."""

    def __init__(self, mets_path, dest):
        self.source = mets_path.name
        self.folder = build_dip(mets_path, dest)
        # build_dip names the folder <SIP name>-<SIP UUID>.
        self.name = self.folder.name[: -len("-00000000-0000-0000-0000-000000000000")]
        (self.mets,) = self.folder.glob("METS.*.xml")

    def files(self, aip_uuid):
        """Yield (source path, relative path in a copy with AIP UUID `aip_uuid`)."""
        for path in sorted(self.folder.rglob("*")):
            if not path.is_file():
                continue
            relative = path.relative_to(self.folder)
            if path == self.mets:
                relative = Path(f"METS.{aip_uuid}.xml")
            yield path, relative

    def copy_to(self, parent, aip_uuid):
        """Copy the DIP into `parent` under AIP UUID `aip_uuid` and return the copy."""
        dip = parent / f"{self.name}-{aip_uuid}"
        for path, relative in self.files(aip_uuid):
            (dip / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dip / relative)
        return dip

    def zip_bytes(self, aip_uuid):
        buffer = io.BytesIO()
        top = f"{self.name}-{aip_uuid}"
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, relative in self.files(aip_uuid):
                archive.write(path, f"{top}/{relative}")
        return buffer.getvalue()


def build_templates(prefixes, dest):
    paths = sorted(METS_DIR.glob("[0-9]*.xml"))
    if prefixes:
        paths = [path for path in paths if path.name.split("_")[0] in prefixes]
        if not paths:
            raise RuntimeError(
                f"No METS in {METS_DIR} starts with {', '.join(prefixes)}"
            )
    return [Template(path, dest / path.stem) for path in paths]


# Sampling ---------------------------------------------------------------------


class ChildPeakSampler(threading.Thread):
    """Read the peak RSS (VmHWM) of every ingest child of the worker.

    Ingest children are forked from the worker's multiprocessing forkserver,
    which is itself a child of the worker. The sampler finds the forkserver by
    its command line once the first ingest has started it.
    """

    def __init__(self, worker_pid):
        super().__init__(name="child-peak-sampler", daemon=True)
        self.worker_pid = worker_pid
        self.forkserver_pid = None
        self.peaks = {}  # {child pid: highest VmHWM read, in kB}
        self.lock = threading.Lock()
        self.done = threading.Event()

    def find_forkserver(self):
        for pid in child_pids(self.worker_pid):
            if "forkserver" in command_line(pid):
                return pid
        return None

    def run(self):
        # A child of the last warm-up deposit may still be exiting.
        earlier = set()
        while not self.done.wait(SAMPLE_INTERVAL):
            if self.forkserver_pid is None:
                self.forkserver_pid = self.find_forkserver()
                if self.forkserver_pid is not None:
                    earlier = set(child_pids(self.forkserver_pid))
                continue
            for pid in child_pids(self.forkserver_pid):
                if pid in earlier:
                    continue
                peak = proc_status_kb(pid, "VmHWM")
                if peak is None:
                    continue
                with self.lock:
                    self.peaks[pid] = max(peak, self.peaks.get(pid, 0))

    def stop(self):
        self.done.set()
        self.join()

    def snapshot(self):
        with self.lock:
            return dict(self.peaks)


# Deposits ---------------------------------------------------------------------


class Depositor:
    def __init__(self, service, templates, upload):
        self.service = service
        self.templates = templates
        self.upload = upload
        self.count = 0
        self.http = requests.Session()

    def deposit_next(self):
        """Deposit the next DIP and return its status once its ingest has ended."""
        template = self.templates[self.count % len(self.templates)]
        self.count += 1
        aip_uuid = str(uuid.uuid4())
        headers = {"X-Packaging": DIP_PACKAGING, "Content-Type": "application/zip"}
        body = None
        if self.upload:
            body = template.zip_bytes(aip_uuid)
            headers["Content-Disposition"] = f"attachment; filename={aip_uuid}.zip"
        else:
            dip = template.copy_to(self.service.deposit_dir, aip_uuid)
            headers["Content-Location"] = f"file:///{dip.name}"

        request_started = time.monotonic()
        response = self.http.post(
            f"{self.service.url}/sword/deposit/{TARGET}",
            headers=headers,
            data=body,
            auth=USER[:2],
            allow_redirects=False,
            timeout=120,
        )
        request_seconds = time.monotonic() - request_started
        if response.status_code not in (201, 202, 302):
            raise RuntimeError(
                f"Deposit of {template.source} as AIP {aip_uuid} was rejected with"
                f" HTTP {response.status_code}: {response.text[:2000]}"
            )
        # The status URL names the deposit by its UUID, so it needs no login.
        status = self.wait(response.headers["Location"])
        status["mets"] = template.source
        status["request_seconds"] = request_seconds
        return status

    def wait(self, location):
        deadline = time.monotonic() + DEPOSIT_TIMEOUT
        while time.monotonic() < deadline:
            self.service.check_worker()
            status = self.http.get(location, timeout=30).json()
            if status["state"] in ("completed", "failed"):
                return status
            time.sleep(POLL_INTERVAL)
        raise RuntimeError(
            f"Deposit {location} timed out: not completed or failed after"
            f" {DEPOSIT_TIMEOUT}s: {status}\n{self.service.log_tail('worker.log')}"
        )


# The run ----------------------------------------------------------------------


def seconds_between(start, end):
    if not start or not end:
        return float("nan")
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def percent(start, end):
    return 100.0 * (end - start) / start if start else float("nan")


def slope_kb_per_job(values):
    """Return the least-squares slope of `values` against their index."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    variance = sum((x - mean_x) ** 2 for x in range(n))
    return covariance / variance


def mib(kb):
    return f"{kb / 1024:.1f} MiB"


def measure(args, service, templates):
    """Run the warm-up and the measured deposits and return the figures."""
    worker_pid = service.worker.pid
    depositor = Depositor(service, templates, args.upload)
    failures = []

    for _ in range(args.warmup):
        status = depositor.deposit_next()
        if status["state"] != "completed":
            failures.append(status)

    sampler = ChildPeakSampler(worker_pid)
    sampler.start()
    # Let the worker settle after the last warm-up ingest before the baseline.
    time.sleep(0.5)
    start_rss = proc_status_kb(worker_pid, "VmRSS")
    start_tree = tree_rss_kb(worker_pid)
    start_load = load_average()
    rows = []
    started = time.monotonic()
    try:
        for job in range(1, args.jobs + 1):
            job_started = time.monotonic()
            status = depositor.deposit_next()
            seconds = time.monotonic() - job_started
            if status["state"] != "completed":
                failures.append(status)
            rss = proc_status_kb(worker_pid, "VmRSS")
            rows.append(
                {
                    "job": job,
                    "mets": status["mets"],
                    "state": status["state"],
                    "attempts": status["attempts"],
                    "seconds": seconds,
                    "request_seconds": status["request_seconds"],
                    "queue_seconds": seconds_between(
                        status["created_at"], status["started_at"]
                    ),
                    "ingest_seconds": seconds_between(
                        status["started_at"], status["finished_at"]
                    ),
                    "worker_rss_kb": rss,
                }
            )
            if job % max(1, args.jobs // 10) == 0:
                print(
                    f"  job {job}/{args.jobs}: worker RSS {mib(rss)}, {seconds:.2f} s",
                    flush=True,
                )
    finally:
        sampler.stop()
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    return {
        "start_rss": start_rss,
        "end_rss": proc_status_kb(worker_pid, "VmRSS"),
        "start_tree": start_tree,
        "end_tree": tree_rss_kb(worker_pid),
        "worker_hwm": proc_status_kb(worker_pid, "VmHWM"),
        "forkserver_rss": (
            proc_status_kb(sampler.forkserver_pid, "VmRSS")
            if sampler.forkserver_pid
            else None
        ),
        "child_peaks": sampler.snapshot(),
        "rows": rows,
        "failures": failures,
        "elapsed": elapsed,
        "load": (start_load, load_average()),
    }


def report(args, results, templates):
    jobs = args.jobs
    start, end = results["start_rss"], results["end_rss"]
    growth = percent(start, end)
    peaks = results["child_peaks"]
    rows = results["rows"]
    worker_rss = [row["worker_rss_kb"] for row in rows]

    def mean_seconds(key):
        return sum(row[key] for row in rows) / len(rows)

    # A deposit whose ingest process died is claimed again by the same worker.
    retried = sum(1 for row in rows if row["attempts"] > 1)

    table = [
        ("jobs", f"{jobs} after {args.warmup} warm-up"),
        ("deposit", "zip upload" if args.upload else "by reference"),
        ("METS files", ", ".join(t.source.split("_")[0] for t in templates)),
        ("worker RSS at start", mib(start)),
        ("worker RSS at end", mib(end)),
        ("worker RSS growth", f"{growth:+.1f} %"),
        ("worker RSS slope", f"{slope_kb_per_job(worker_rss):+.1f} kB per job"),
        ("worker peak RSS (VmHWM)", mib(results["worker_hwm"])),
        (
            "worker + children RSS",
            f"{mib(results['start_tree'])} -> {mib(results['end_tree'])}",
        ),
        (
            "forkserver RSS at end",
            mib(results["forkserver_rss"]) if results["forkserver_rss"] else "n/a",
        ),
        (
            "ingest child peak RSS",
            f"{mib(max(peaks.values()))} max over {len(peaks)} children"
            if peaks
            else "not read (children ended between two reads)",
        ),
        (
            "seconds per job",
            f"{results['elapsed'] / jobs:.2f}: deposit request"
            f" {mean_seconds('request_seconds'):.2f}, queue wait"
            f" {mean_seconds('queue_seconds'):.2f}, ingest"
            f" {mean_seconds('ingest_seconds'):.2f}",
        ),
        ("failed deposits", str(len(results["failures"]))),
        ("deposits retried after a crash", str(retried)),
        ("load average (1 min)", "{:.1f} -> {:.1f}".format(*results["load"])),
        ("CPU", f"{cpu_model()}, {os.cpu_count()} cores"),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("command", shlex.join([sys.executable, *sys.argv])),
    ]
    width = max(len(name) for name, _ in table)
    print()
    for name, value in table:
        print(f"{name:<{width}}  {value}")
    for status in results["failures"][:5]:
        print(f"failed: {status['mets']}: {status['error']}")
    print()
    print(
        f"worker RSS growth: {growth:.1f} % over {jobs} jobs"
        f" (target: at most {GROWTH_TARGET_PERCENT:g} %)"
    )

    if args.csv:
        with open(args.csv, "w", newline="") as output:
            writer = csv.DictWriter(output, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Measure a depositum worker's memory growth across ingests."
    )
    parser.add_argument(
        "--jobs", type=int, default=200, help="measured deposits (default: 200)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="deposits before the start RSS is read (default: 5)",
    )
    parser.add_argument(
        "--mets",
        action="append",
        metavar="PREFIX",
        help="use only the fixture METS whose name starts with PREFIX, e.g. 10"
        " (repeatable; default: every numbered METS in tests/fixtures/mets)",
    )
    parser.add_argument(
        "--upload",
        action="store_true",
        help="send each DIP as a zip in the request body, not by reference",
    )
    parser.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="write one row per measured deposit (seconds, worker RSS in kB) to FILE",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory (database, logs, DIPs) and print its path",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.warmup < 0:
        parser.error("--jobs must be at least 1 and --warmup at least 0")
    return args


def raise_stopped(signum, frame):
    raise Stopped()


def main(argv=None):
    args = parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("This benchmark reads /proc and runs on Linux only.")
        return 1
    signal.signal(signal.SIGTERM, raise_stopped)

    root = Path(tempfile.mkdtemp(prefix="depositum-worker-memory-"))
    service = Service(root)
    status = 0
    try:
        print(f"Building DIPs and starting depositum on {service.url} ...", flush=True)
        templates = build_templates(args.mets, root / "dips")
        service.start()
        print(
            f"Worker process {service.worker.pid}; {args.warmup} warm-up and"
            f" {args.jobs} measured deposits",
            flush=True,
        )
        results = measure(args, service, templates)
        report(args, results, templates)
    except (KeyboardInterrupt, Stopped):
        print("Interrupted; stopping depositum.")
        status = 130
    except (RuntimeError, OSError, requests.RequestException) as e:
        print(f"The benchmark could not run: {e}")
        status = 1
    finally:
        # Ignore a second Ctrl-C or SIGTERM until the processes are stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        service.stop()
        if args.keep:
            print(f"Temporary directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
