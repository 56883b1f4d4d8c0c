"""Measure depositum's big ingests, by-value uploads and by-reference deposits.

    make benchmark
    .venv/bin/python benchmarks/run.py [--sizes 1000,10000] [--only ingest]

Three benchmarks run one after another on this machine, each against a private
depositum on 127.0.0.1 in a temporary data directory, and print their figures
as ratios to a baseline measured in the same run:

ingest
    For each size N, a DIP of N original files from benchmarks/generate_dip.py.
    The floor is what any ingest of it must do. It is an lxml parse of the
    METS, a bulk insert of N rows into the catalogue's description table of
    the same database, and a copy of the access copies to a fresh directory.
    depositum's end-to-end time runs from the deposit's creation (the
    by-reference request was accepted) to its completion, with one `depositum
    worker --threads 1` on the default SQLite database and SqliteHuey queue.
    metsrw 0.7.0's `METSDocument.fromfile` parses the same METS in its own
    virtualenv. The peak RSS is the VmHWM of the ingest child process, read
    every 20 ms.
upload
    A zip of about 1 GB deposited by value (the POST body is the zip), without
    and then with Content-MD5, against `cp` of the same file. Both read it
    from the page cache. The client sends the file with sendfile(2), so it
    costs little CPU. The server's memory, read every 20 ms, is the largest
    VmRSS of the gunicorn master and its workers, and their summed Pss and
    VmRSS.
latency
    32 clients deposit by reference, as stock Archivematica does, first each
    once a second (paced) and then each again as soon as its last response
    came (saturation), for 20 seconds each after 3 seconds of warm-up. It
    prints p50, p99 and max latency, the throughput and the server's CPU time
    per deposit. It runs on SQLite with SqliteHuey, then on PostgreSQL (a fresh
    database on 127.0.0.1:5432) with Redis or the PostgreSQL queue. No worker
    runs, so the figures are those of the web server alone and the deposits
    stay queued.

The exit status is 0 whenever the benchmarks ran, whatever the figures; 1 when
one could not run and 130 after Ctrl-C. It needs Linux, for /proc.
"""

import argparse
import base64
import fcntl
import hashlib
import http.client
import json
import multiprocessing
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
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

from benchmarks import worker_memory  # noqa: E402
from benchmarks.generate_dip import generate_dip  # noqa: E402
from benchmarks.worker_memory import (  # noqa: E402
    ChildPeakSampler,
    Stopped,
    cpu_model,
    load_average,
    proc_status_kb,
)
from depositum.deposits.packages import PIPE_SIZE  # noqa: E402
from tests.dips import build_dip  # noqa: E402

DIP_PACKAGING = "http://purl.org/net/sword-types/METSArchivematicaDIP"
USER = ("bench", "bench-password", "bench@example.org")
TARGET = "bench-fonds"
METSRW_PYTHON = REPO / ".venv-bench" / "bin" / "python"
# depositum installed without extras, as the embedded default needs it.
LEAN_PYTHON = REPO / ".venv-lean" / "bin" / "python"
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/13"
# A METS of 50,000 generated files is about 1.1 GB, over the default limit.
MAX_METS_MB = 4096
SAMPLE_INTERVAL = 0.02
INGEST_TIMEOUT = 3600

# Targets, as ratios, MB and ms.
INGEST_FLOOR_RATIO_TARGET = 3.0
METSRW_SPEEDUP_TARGET = 20.0
INGEST_RSS_TARGET_MB = 300
UPLOAD_CP_RATIO_TARGET = 0.70
UPLOAD_RSS_TARGET_MB = 100
LATENCY_P99_TARGET_MS = 50.0

METSRW_CODE = """
import sys, time
import metsrw
started = time.perf_counter()
document = metsrw.METSDocument.fromfile(sys.argv[1])
print(time.perf_counter() - started, len(document.all_files()))
"""


def verdict(met):
    return "met" if met else "NOT MET"


def mib(kb):
    return kb / 1024


# The machine ----------------------------------------------------------------------


def machine_lines(root):
    with open("/proc/meminfo") as meminfo:
        total_kb = int(meminfo.readline().split()[1])
    mount = subprocess.run(
        ["findmnt", "-no", "SOURCE,FSTYPE,OPTIONS", "-T", str(root)],
        capture_output=True,
        text=True,
    ).stdout.strip()
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    lines = [
        ("date", datetime.now().astimezone().isoformat(timespec="seconds")),
        ("commit", commit or "unknown"),
        ("CPU", f"{cpu_model()}, {os.cpu_count()} cores"),
        ("RAM", f"{total_kb / 1024 / 1024:.1f} GiB"),
        ("disk", f"{mount or 'unknown'} ({root})"),
        ("kernel", platform.release()),
        ("Python", platform.python_version()),
        ("SQLite", sqlite3.sqlite_version),
        ("PostgreSQL", postgres_version() or "not reachable"),
        ("load average (1 min)", f"{load_average():.2f}"),
    ]
    return lines


def postgres_version():
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            return connection.execute("SHOW server_version").fetchone()[0]
    except psycopg.OperationalError:
        return None


def print_table(title, rows):
    print(f"\n{title}")
    width = max(len(str(row[0])) for row in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


# The private depositum ------------------------------------------------------------


class Service(worker_memory.Service):
    """The benchmark's depositum, allowed a METS as large as the generated ones."""

    def __init__(
        self, root, *, database_url=None, queue_url=None, extra_env=None, python=None
    ):
        super().__init__(
            root,
            database_url=database_url,
            queue_url=queue_url,
            extra_env={"DEPOSITUM_MAX_METS_MB": str(MAX_METS_MB), **(extra_env or {})},
            python=python,
        )


def deposit_by_reference(session, service, folder_name):
    response = session.post(
        f"{service.url}/sword/deposit/{TARGET}",
        headers={
            "X-Packaging": DIP_PACKAGING,
            "Content-Type": "application/zip",
            "Content-Location": f"file:///{folder_name}",
        },
        auth=USER[:2],
        allow_redirects=False,
        timeout=120,
    )
    if response.status_code not in (201, 202, 302):
        raise RuntimeError(
            f"Deposit of {folder_name} was rejected with HTTP"
            f" {response.status_code}: {response.text[:2000]}"
        )
    return response.headers["Location"]


# Ingest ---------------------------------------------------------------------------


def floor_child(mets_path, objects_dir, count):
    """Time the floor of an ingest in this process and print it as JSON.

    Runs with the benchmark service's environment, so the insert goes to the
    same database as depositum's ingest.
    """
    import django
    from lxml import etree

    started = time.perf_counter()
    etree.parse(
        mets_path, etree.XMLParser(resolve_entities=False, no_network=True)
    ).getroot()
    parsed = time.perf_counter()

    django.setup()
    from django.db import transaction

    from depositum.catalogue.models import Description

    target = Description.objects.get(slug=TARGET)
    setup_done = time.perf_counter()
    rows = [
        Description(
            parent=target,
            position=index,
            slug=f"floor-{uuid.uuid4().hex}",
            title=f"Floor row {index}",
            level_of_description="Item",
        )
        for index in range(count)
    ]
    with transaction.atomic():
        Description.objects.bulk_create(rows, batch_size=1000)
    inserted = time.perf_counter()

    copy_dir = Path(
        tempfile.mkdtemp(prefix="floor-copy-", dir=objects_dir.parent.parent)
    )
    for entry in os.scandir(objects_dir):
        shutil.copyfile(entry.path, copy_dir / entry.name)
    copied = time.perf_counter()

    shutil.rmtree(copy_dir)
    Description.objects.filter(slug__startswith="floor-").delete()
    print(
        json.dumps(
            {
                "parse": parsed - started,
                "insert": inserted - setup_done,
                "copy": copied - inserted,
            }
        )
    )


def measure_floor(service, dip, count):
    (mets,) = dip.glob("METS.*.xml")
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "floor",
            str(mets),
            str(dip / "objects"),
            str(count),
        ],
        env=service.env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"The floor measurement failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["total"] = figures["parse"] + figures["insert"] + figures["copy"]
    return figures


def measure_metsrw(mets, limit):
    """Return (seconds, None) for metsrw's parse, or (None, reason)."""
    if not METSRW_PYTHON.exists():
        return None, f"no {METSRW_PYTHON.relative_to(REPO)}: run `make benchmark`"
    try:
        result = subprocess.run(
            [str(METSRW_PYTHON), "-c", METSRW_CODE, str(mets)],
            capture_output=True,
            text=True,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:
        return None, f"> {limit:.0f} s (stopped)"
    if result.returncode != 0:
        return None, f"failed: {result.stderr.strip().splitlines()[-1]}"
    return float(result.stdout.split()[0]), None


def seconds_between(start, end):
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def measure_ingest(service, dip_name):
    """Deposit a DIP by reference, wait for its ingest and return the figures."""
    sampler = ChildPeakSampler(service.worker.pid)
    sampler.start()
    session = requests.Session()
    try:
        location = deposit_by_reference(session, service, dip_name)
        deadline = time.monotonic() + INGEST_TIMEOUT
        while time.monotonic() < deadline:
            if service.worker.poll() is not None:
                raise RuntimeError(
                    f"depositum worker exited:\n{service.log_tail('worker.log')}"
                )
            status = session.get(location, timeout=30).json()
            if status["state"] in ("completed", "failed"):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"Ingest of {dip_name} timed out: {status}")
    finally:
        sampler.stop()
    if status["state"] != "completed":
        raise RuntimeError(f"Ingest of {dip_name} failed: {status.get('error')}")
    peaks = sampler.snapshot()
    return {
        "end_to_end": seconds_between(status["created_at"], status["finished_at"]),
        "ingest": seconds_between(status["started_at"], status["finished_at"]),
        "child_peak_kb": max(peaks.values()) if peaks else None,
        "worker_peak_kb": proc_status_kb(service.worker.pid, "VmHWM"),
    }


def run_ingest(args, root):
    service = Service(root / "ingest")
    rows = []
    try:
        service.start(worker=True)
        staging = service.data_dir / "staging"
        for count in args.sizes:
            print(f"\ningest: generating a DIP of {count:,} files ...", flush=True)
            dip = generate_dip(count, staging, seed=count)
            (mets,) = dip.glob("METS.*.xml")
            mets_mb = mets.stat().st_size / 1e6

            print(f"ingest: metsrw parse of {mets_mb:.0f} MB ...", flush=True)
            metsrw_seconds, metsrw_note = measure_metsrw(mets, args.metsrw_limit)
            print("ingest: floor ...", flush=True)
            floor = measure_floor(service, dip, count)

            # Renamed, not copied, into the deposit directory: the same file system.
            placed = service.deposit_dir / dip.name
            dip.rename(placed)
            print("ingest: depositum ...", flush=True)
            ingest = measure_ingest(service, placed.name)
            rows.append((count, mets_mb, floor, metsrw_seconds, metsrw_note, ingest))
            report_ingest_size(rows[-1], args.metsrw_limit)
    finally:
        service.stop()
    return rows


def report_ingest_size(row, metsrw_limit):
    count, mets_mb, floor, metsrw_seconds, metsrw_note, ingest = row
    ratio = ingest["end_to_end"] / floor["total"]
    child_mb = mib(ingest["child_peak_kb"]) if ingest["child_peak_kb"] else None
    metsrw_text = metsrw_note or f"{metsrw_seconds:.2f} s"
    speedup_text = "n/a"
    # A stopped metsrw gives a lower bound: it would have taken longer.
    stopped = metsrw_note is not None and metsrw_note.endswith("(stopped)")
    metsrw_bound = metsrw_seconds or (metsrw_limit if stopped else None)
    if metsrw_bound:
        speedup = metsrw_bound / ingest["end_to_end"]
        more = "more than " if stopped else ""
        speedup_text = f"{more}{speedup:.1f}x faster than metsrw's parse"
        if count == 10_000:
            speedup_text += (
                f" (target: at least {METSRW_SPEEDUP_TARGET:g}x,"
                f" {verdict(speedup >= METSRW_SPEEDUP_TARGET)})"
            )
    table = [
        ("METS", f"{mets_mb:.0f} MB"),
        (
            "floor",
            f"{floor['total']:.2f} s (lxml parse {floor['parse']:.2f}, bulk insert"
            f" {floor['insert']:.2f}, copy {floor['copy']:.2f})",
        ),
        (
            "depositum end to end",
            f"{ingest['end_to_end']:.2f} s (ingest child {ingest['ingest']:.2f})",
        ),
        ("ratio to floor", f"{ratio:.2f}x"),
        ("metsrw 0.7.0 parse", metsrw_text),
        ("depositum vs metsrw", speedup_text),
        (
            "peak RSS of the ingest child",
            f"{child_mb:.0f} MiB" if child_mb else "not read",
        ),
        ("peak RSS of the worker", f"{mib(ingest['worker_peak_kb']):.0f} MiB"),
    ]
    if count == 10_000:
        table.append(
            (
                "targets",
                f"ratio at most {INGEST_FLOOR_RATIO_TARGET:g}x:"
                f" {verdict(ratio <= INGEST_FLOOR_RATIO_TARGET)};"
                f" peak RSS at most {INGEST_RSS_TARGET_MB} MB:"
                f" {verdict(child_mb is not None and child_mb * 1.048576 <= INGEST_RSS_TARGET_MB)}",
            )
        )
    print_table(f"Ingest of a DIP of {count:,} files", table)


# Upload ---------------------------------------------------------------------------


def build_upload_zip(root, target_mb):
    """Zip a generated DIP of about `target_mb` MB, with its entries stored."""
    # A generated original takes about 85 KB in the zip: access copy, thumbnail
    # and its share of the METS.
    count = max(1, int(target_mb * 1e6 / 85_000))
    dip = generate_dip(count, root / "upload-dip", seed=1)
    path = root / f"{dip.name}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(dip.rglob("*")):
            if file.is_file():
                archive.write(file, f"{dip.name}/{file.relative_to(dip)}")
    shutil.rmtree(dip.parent)
    return path, count


def post_file(port, path, file_path, authorization, content_md5=None):
    """POST the file as the body over one connection.

    Return (HTTP status, seconds from connecting to the end of the response,
    response bytes).
    """
    size = file_path.stat().st_size
    md5_header = f"Content-MD5: {content_md5}\r\n" if content_md5 else ""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: {authorization}\r\n"
        f"X-Packaging: {DIP_PACKAGING}\r\n"
        "Content-Type: application/zip\r\n"
        f"Content-Disposition: attachment; filename={file_path.name}\r\n"
        f"{md5_header}"
        f"Content-Length: {size}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        with open(file_path, "rb") as body:
            sock.sendfile(body)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    seconds = time.perf_counter() - started
    status = int(response.split(b" ", 2)[1])
    return status, seconds, response


def proportional_set_size_kb(pid):
    """Return the Pss of /proc/<pid>/smaps_rollup in kB, or 0 if `pid` is gone.

    A page that n processes share counts 1/n in each, so the sum over forked
    processes counts every page once, where the sum of VmRSS counts it n times.
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler(threading.Thread):
    """Read the summed VmRSS and Pss of a set of processes every SAMPLE_INTERVAL
    and keep the peaks, in kB."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        # The largest VmRSS that any one of the processes reached.
        self.peak_process_rss_kb = 0
        self.done = threading.Event()

    def read(self):
        """Return the summed VmRSS, the summed Pss and the largest VmRSS."""
        rss = [proc_status_kb(pid, "VmRSS") or 0 for pid in self.pids]
        pss = sum(proportional_set_size_kb(pid) for pid in self.pids)
        return sum(rss), pss, max(rss)

    def run(self):
        while not self.done.wait(SAMPLE_INTERVAL):
            rss, pss, largest = self.read()
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.peak_process_rss_kb = max(self.peak_process_rss_kb, largest)

    def stop(self):
        self.done.set()
        self.join()


def time_cp(source, dest):
    """Return the seconds that `cp` takes to copy `source` to `dest`, which is
    removed afterwards.

    Each copy and upload removes its file before the next step starts, because
    pages freed a moment ago are the cheapest to write to on this kind of
    virtual machine. After writing out dirty pages or waiting a few seconds,
    the same `cp` took from 0.3 s to 2.7 s, as the hypervisor gave memory back
    to the guest page by page.
    """
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(dest)], check=True)
    seconds = time.perf_counter() - started
    dest.unlink()
    return seconds


def time_bare_transfer(source, dest):
    """Return the seconds that the upload's transport alone takes to move
    `source` into the file `dest`, which is removed afterwards.

    The sender uses sendfile(2) into a loopback TCP connection, as post_file()
    does. The receiver moves the bytes from the socket through a pipe into the
    file with splice(2), as depositum does, with no HTTP and no zip check.
    """
    size = source.stat().st_size
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def send():
            with socket.create_connection(("127.0.0.1", port)) as sock:
                with open(source, "rb") as body:
                    sock.sendfile(body)
                sock.recv(1)

        sender = threading.Thread(target=send)
        sender.start()
        started = time.perf_counter()
        connection, _ = listener.accept()
        read_end, write_end = os.pipe()
        try:
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            with connection, open(dest, "wb") as file:
                received = 0
                while received < size:
                    moved = os.splice(connection.fileno(), write_end, PIPE_SIZE)
                    if moved == 0:
                        raise RuntimeError("the bare transfer's sender closed early")
                    left = moved
                    while left:
                        left -= os.splice(read_end, file.fileno(), left)
                    received += moved
                seconds = time.perf_counter() - started
                connection.sendall(b"\n")
        finally:
            os.close(read_end)
            os.close(write_end)
            sender.join()
    dest.unlink()
    return seconds


def file_md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class UploadSeries:
    """The times of one series of uploads and of the cp before each, and the
    memory samplers of the uploads."""

    def __init__(self, size):
        self.size = size
        self.cp_seconds = []
        self.upload_seconds = []
        self.samplers = []
        # The server's own times to store the body and to check the zip.
        self.store_seconds = []
        self.check_seconds = []


# The line that depositum.deposits.packages logs after each stored upload.
UPLOAD_LOG_LINE = re.compile(
    r"Upload to .*: \d+ bytes stored in ([\d.]+)s through .*,"
    r" zip checked in ([\d.]+)s"
)


def last_upload_times(service):
    """Return the store and check times of the last upload in the server's
    log, in seconds."""
    log = (service.data_dir / "server.log").read_text(errors="replace")
    store, check = UPLOAD_LOG_LINE.findall(log)[-1]
    return float(store), float(check)


def upload_runs(args, service, zip_path, content_md5, label):
    """Upload the zip args.upload_runs times, each after a cp of it, after one
    untimed round of both. Return an UploadSeries."""
    authorization = (
        "Basic " + base64.b64encode(f"{USER[0]}:{USER[1]}".encode()).decode()
    )
    size = zip_path.stat().st_size
    series = UploadSeries(size)
    for run in range(args.upload_runs + 1):
        cp_seconds = time_cp(zip_path, zip_path.parent / "cp.zip")
        sampler = MemorySampler(service.server_pids())
        sampler.start()
        status, seconds, response = post_file(
            service.port,
            f"/sword/deposit/{TARGET}",
            zip_path,
            authorization,
            content_md5,
        )
        sampler.stop()
        if status not in (201, 202, 302):
            raise RuntimeError(f"The upload was rejected: {response[:2000]!r}")
        shutil.rmtree(service.upload_dir)
        if run == 0:
            continue  # The warm-up round.
        store_seconds, check_seconds = last_upload_times(service)
        series.cp_seconds.append(cp_seconds)
        series.upload_seconds.append(seconds)
        series.samplers.append(sampler)
        series.store_seconds.append(store_seconds)
        series.check_seconds.append(check_seconds)
        print(
            f"upload, {label}: run {run}: cp {size / cp_seconds / 1e6:.0f} MB/s,"
            f" upload {size / seconds / 1e6:.0f} MB/s (server: body stored in"
            f" {store_seconds:.2f} s, zip checked in {check_seconds:.2f} s),"
            f" largest server process"
            f" {sampler.peak_process_rss_kb * 1.024 / 1000:.0f} MB",
            flush=True,
        )
    return series


def upload_installs():
    """Return (label, Python) of each install that the upload runs on.

    The embedded default needs neither the postgres nor the redis extra, and
    Huey imports psycopg and redis whenever they are installed, so the
    process memory depends on the install.
    """
    installs = []
    if LEAN_PYTHON.exists():
        installs.append(("embedded default install", str(LEAN_PYTHON)))
    installs.append(("install with every extra", sys.executable))
    return installs


def run_upload(args, root):
    print(f"\nupload: building a zip of about {args.upload_mb} MB ...", flush=True)
    zip_path, count = build_upload_zip(root, args.upload_mb)
    size = zip_path.stat().st_size
    content_md5 = file_md5(zip_path)
    # Read it once more, so every copy and upload takes it from the page cache.
    time_cp(zip_path, root / "cp.zip")

    bare = UploadSeries(size)
    for run in range(args.upload_runs + 1):
        cp_seconds = time_cp(zip_path, root / "cp.zip")
        seconds = time_bare_transfer(zip_path, root / "bare.zip")
        if run:
            bare.cp_seconds.append(cp_seconds)
            bare.upload_seconds.append(seconds)
            print(
                f"bare transfer: run {run}: cp {size / cp_seconds / 1e6:.0f} MB/s,"
                f" bare transfer {size / seconds / 1e6:.0f} MB/s",
                flush=True,
            )

    measured = []
    try:
        for number, (install, python) in enumerate(upload_installs()):
            service = Service(root / f"upload-{number}", python=python)
            try:
                service.start(worker=False)
                # The first request of each gunicorn worker hashes the password,
                # and later ones find the credentials in the worker's cache.
                for _ in range(4):
                    requests.get(f"{service.url}/sword/servicedocument", auth=USER[:2])
                idle = MemorySampler(service.server_pids()).read()
                series = upload_runs(args, service, zip_path, None, install)
                measured.append((install, series, idle))
                if number == 0:
                    label = f"{install}, Content-MD5"
                    series = upload_runs(args, service, zip_path, content_md5, label)
                    measured.append((label, series, None))
            finally:
                service.stop()
    finally:
        zip_path.unlink(missing_ok=True)

    # Every cp copies the same file to the same file system, so the fastest of
    # all of them is the baseline of every series.
    cp_seconds = bare.cp_seconds + [
        seconds for _, series, _ in measured for seconds in series.cp_seconds
    ]
    best_cp = min(cp_seconds)
    rows = [
        (
            f"cp ({len(cp_seconds)} runs)",
            f"best {size / best_cp / 1e6:.0f} MB/s,"
            f" median {size / statistics.median(cp_seconds) / 1e6:.0f} MB/s",
        )
    ]
    rows += rate_rows("bare transfer", bare.upload_seconds, size, best_cp)
    for label, series, idle in measured:
        rows += rate_rows(
            label, series.upload_seconds, size, best_cp, UPLOAD_CP_RATIO_TARGET
        )
        rows.append(
            (
                f"{label}: server's median times",
                f"body stored in {statistics.median(series.store_seconds):.2f} s,"
                f" zip checked in {statistics.median(series.check_seconds):.2f} s",
            )
        )
        rows += memory_rows(label, series, idle)
    print_table(
        f"By-value upload of a {size / 1e6:.0f} MB zip ({count:,} files, stored),"
        f" {args.upload_runs} runs each after one untimed",
        rows,
    )


def rate_rows(label, seconds, size, best_cp, target=None):
    """Return the table rows of the rate of the runs that took `seconds`, and
    of its ratio to cp.

    The ratio is that of the best runs. Other work on the machine and the
    hypervisor only ever slow a run down, and in some runs here they slowed
    `cp` by up to five times, so a ratio of medians can come out high by
    chance.
    """
    best = min(seconds)
    ratio = best_cp / best
    verdict_text = ""
    if target is not None:
        verdict_text = f" (target: at least {target:g}, {verdict(ratio >= target)})"
    return [
        (
            label,
            f"best {size / best / 1e6:.0f} MB/s,"
            f" median {size / statistics.median(seconds) / 1e6:.0f} MB/s",
        ),
        (f"{label}: best / best cp", f"{ratio:.2f}{verdict_text}"),
    ]


def memory_rows(label, series, idle):
    """Return the table rows of the server's memory during `series`, and before
    it unless `idle` is None."""
    peak_pss_mb = max(s.peak_pss_kb for s in series.samplers) * 1.024 / 1000
    peak_rss_mb = max(s.peak_rss_kb for s in series.samplers) * 1.024 / 1000
    process_mb = max(s.peak_process_rss_kb for s in series.samplers) * 1.024 / 1000
    rows = [
        (
            f"{label}: largest server process",
            f"VmRSS {process_mb:.0f} MB (target: under {UPLOAD_RSS_TARGET_MB} MB,"
            f" {verdict(process_mb < UPLOAD_RSS_TARGET_MB)})",
        ),
        (
            f"{label}: master and workers",
            f"Pss {peak_pss_mb:.0f} MB, VmRSS summed {peak_rss_mb:.0f} MB",
        ),
    ]
    if idle is not None:
        rows.append(
            (
                f"{label}: before the uploads",
                f"Pss {idle[1] * 1.024 / 1000:.0f} MB, VmRSS summed"
                f" {idle[0] * 1.024 / 1000:.0f} MB, largest VmRSS"
                f" {idle[2] * 1.024 / 1000:.0f} MB",
            )
        )
    return rows


# Latency --------------------------------------------------------------------------


def latency_client(port, folder_name, interval, warmup_until, stop_at, results):
    """Deposit `folder_name` by reference over one keep-alive connection until
    `stop_at`, starting a request every `interval` seconds (or at once after
    the last response when it is 0), and append (seconds, HTTP status) for each
    request that started after `warmup_until`."""
    authorization = (
        "Basic " + base64.b64encode(f"{USER[0]}:{USER[1]}".encode()).decode()
    )
    headers = {
        "Authorization": authorization,
        "X-Packaging": DIP_PACKAGING,
        "Content-Type": "application/zip",
        "Content-Length": "0",
        "Content-Location": f"file:///{folder_name}",
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    # Paced clients start at random points of the interval, not all at once.
    next_start = time.perf_counter() + random.uniform(0, interval)
    while next_start < stop_at:
        pause = next_start - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        started = time.perf_counter()
        try:
            connection.request("POST", f"/sword/deposit/{TARGET}", headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            status = 0
        seconds = time.perf_counter() - started
        if started >= warmup_until:
            results.append((seconds, status))
        if interval:
            next_start = max(started + interval, time.perf_counter())
        else:
            next_start = time.perf_counter()
    connection.close()


def latency_process(port, folder_names, interval, warmup_until, stop_at, queue):
    """Run one client thread per folder name and put their results on `queue`."""
    results = []
    threads = [
        threading.Thread(
            target=latency_client,
            args=(port, name, interval, warmup_until, stop_at, results),
        )
        for name in folder_names
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(results)


def cpu_seconds(pids):
    """Return the user and system CPU seconds that the processes have used."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime and stime are fields 14 and 15 of the line, 12 and 13 here.
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def measure_latency(args, service, names, interval):
    """Run the clients once, in up to 4 processes, and return the figures."""
    processes = min(len(names), 4)
    server_pids = service.server_pids()
    start_at = time.perf_counter()
    warmup_until = start_at + args.latency_warmup
    stop_at = warmup_until + args.latency_seconds
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [
        context.Process(
            target=latency_process,
            args=(
                service.port,
                names[index::processes],
                interval,
                warmup_until,
                stop_at,
                queue,
            ),
        )
        for index in range(processes)
    ]
    for child in children:
        child.start()
    time.sleep(max(0.0, warmup_until - time.perf_counter()))
    cpu_before = cpu_seconds(server_pids)
    results = []
    for _ in children:
        results.extend(queue.get(timeout=args.latency_seconds + 300))
    cpu_used = cpu_seconds(server_pids) - cpu_before
    for child in children:
        child.join()

    accepted = (201, 202, 302)
    latencies = sorted(seconds for seconds, status in results if status in accepted)
    if not latencies:
        raise RuntimeError(
            f"No deposit was accepted:\n{service.log_tail('server.log')}"
        )
    return {
        "requests": len(latencies),
        "errors": sum(1 for _, status in results if status not in accepted),
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "max": latencies[-1] * 1000,
        "throughput": len(latencies) / args.latency_seconds,
        "cpu_ms": cpu_used * 1000 / len(latencies),
    }


def run_latency_on(args, root, label, database_url=None, queue_url=None):
    service = Service(root, database_url=database_url, queue_url=queue_url)
    try:
        service.start(worker=False)
        # A DIP of one file, around the fixture METS 10. Without a worker the
        # folders stay, so each client deposits its own folder again and again.
        template = build_dip(
            REPO / "tests/fixtures/mets/10_ss_METS.828c44bb_am1.12.xml",
            root / "template",
        )
        names = []
        for index in range(args.clients):
            name = f"latency-{index:03d}-{template.name}"
            shutil.copytree(template, service.deposit_dir / name, copy_function=os.link)
            names.append(name)

        paced = measure_latency(args, service, names, args.latency_interval)
        saturated = measure_latency(args, service, names, 0)
    finally:
        service.stop()

    rows = []
    for mode, figures in (
        (f"one deposit per client every {args.latency_interval:g} s", paced),
        ("back to back (saturation)", saturated),
    ):
        target = ""
        if figures is paced:
            target = (
                f" (target: at most {LATENCY_P99_TARGET_MS:g} ms,"
                f" {verdict(figures['p99'] <= LATENCY_P99_TARGET_MS)})"
            )
        rows += [
            (
                f"{mode}",
                f"{figures['requests']} deposits ({figures['errors']} failed),"
                f" {figures['throughput']:.0f}/s",
            ),
            (
                "  p50 / p99 / max",
                f"{figures['p50']:.1f} / {figures['p99']:.1f} / {figures['max']:.1f}"
                f" ms{target}",
            ),
            ("  server CPU per deposit", f"{figures['cpu_ms']:.1f} ms"),
        ]
    print_table(
        f"By-reference deposits, {args.clients} clients, {args.latency_seconds:g} s"
        f" each: {label}",
        rows,
    )
    return {"label": label, "paced": paced, "saturated": saturated}


def fresh_postgres_database():
    """Create an empty database and return (its URL, a drop function), or None."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        print(f"latency: PostgreSQL at {POSTGRES_URL} is not reachable ({e}); skipped")
        return None
    name = f"depositum_bench_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop():
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name, drop


def redis_reachable():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).flushdb()
    except redis.RedisError:
        return False
    return True


def run_latency(args, root):
    results = [run_latency_on(args, root / "latency-sqlite", "SQLite and SqliteHuey")]
    database = fresh_postgres_database()
    if database is None:
        return results
    url, drop = database
    try:
        if args.pg_queue == "redis" and redis_reachable():
            queue_url, label = REDIS_URL, "PostgreSQL and Redis"
        else:
            queue_url, label = (
                url.replace("postgres://", "postgresql://"),
                ("PostgreSQL and its queue"),
            )
        results.append(
            run_latency_on(args, root / "latency-postgres", label, url, queue_url)
        )
    finally:
        drop()
    return results


# Main -----------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Measure depositum's ingest, upload and deposit latency."
    )
    parser.add_argument(
        "--only",
        choices=["ingest", "upload", "latency"],
        action="append",
        help="run only this benchmark (repeatable; default: all three)",
    )
    parser.add_argument(
        "--sizes",
        default="1000,10000,50000",
        help="DIP sizes in original files, comma-separated (default: 1000,10000,50000)",
    )
    parser.add_argument(
        "--metsrw-limit",
        type=float,
        default=600,
        help="seconds metsrw may parse one METS before it is stopped (default: 600)",
    )
    parser.add_argument(
        "--upload-mb",
        type=int,
        default=1024,
        help="size of the upload zip in MB (default: 1024)",
    )
    parser.add_argument(
        "--upload-runs",
        type=int,
        default=5,
        help="timed uploads and cp runs of each series, after one untimed (default: 5)",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=32,
        help="concurrent deposit clients (default: 32)",
    )
    parser.add_argument(
        "--latency-seconds",
        type=float,
        default=20,
        help="seconds of timed deposits per database (default: 20)",
    )
    parser.add_argument(
        "--latency-interval",
        type=float,
        default=1.0,
        help="seconds between the starts of one client's deposits in the paced"
        " run (default: 1)",
    )
    parser.add_argument(
        "--latency-warmup",
        type=float,
        default=3,
        help="seconds of untimed deposits first (default: 3)",
    )
    parser.add_argument(
        "--pg-queue",
        choices=["redis", "postgres"],
        default="redis",
        help="queue of the PostgreSQL latency run; redis falls back to postgres"
        " when Redis does not answer on 127.0.0.1:6379 (default: redis)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory"
    )
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(size.replace("_", "")) for size in args.sizes.split(",")]
    except ValueError:
        parser.error(
            f"--sizes {args.sizes!r} is invalid: give numbers such as 1000,10000"
        )
    return args


def raise_stopped(signum, frame):
    raise Stopped()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["floor"]:
        floor_child(argv[1], Path(argv[2]), int(argv[3]))
        return 0

    args = parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("This benchmark reads /proc and runs on Linux only.")
        return 1
    signal.signal(signal.SIGTERM, raise_stopped)
    selected = args.only or ["ingest", "upload", "latency"]

    root = Path(tempfile.mkdtemp(prefix="depositum-benchmark-"))
    status = 0
    try:
        print_table("Machine", machine_lines(root))
        print(f"  command  {shlex.join([sys.executable, *sys.argv])}", flush=True)
        if "ingest" in selected:
            run_ingest(args, root)
        if "upload" in selected:
            run_upload(args, root)
        if "latency" in selected:
            run_latency(args, root)
        print(f"\nload average (1 min) at the end: {load_average():.2f}")
    except (KeyboardInterrupt, Stopped):
        print("Interrupted; stopping depositum.")
        status = 130
    except (RuntimeError, OSError, requests.RequestException) as e:
        print(f"The benchmark could not run: {e}")
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if args.keep:
            print(f"Temporary directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
