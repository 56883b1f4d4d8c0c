"""Fault injection against real worker processes: kill -9, a queue restart,
killed queue connections, a DIP that kills every attempt, and many deposits at
once.

Each test is bounded in time and talks only to processes it started on
127.0.0.1.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from benchmarks.generate_dip import generate_dip
from depositum.ingest.archivematica import ArchivematicaDIPExtractor
from tests.conftest import (
    ALICE,
    free_port,
    mets_path,
    postgres_database,
    skip_or_fail,
)
from tests.dips import build_dip

pytestmark = pytest.mark.live

DIP_PACKAGING = "http://purl.org/net/sword-types/METSArchivematicaDIP"
CHAOS_SECONDS = 300
# Set on the connections of a PostgreSQL queue, so that a test terminates only
# those, in the database it created.
QUEUE_APPLICATION_NAME = "depositum-test-queue"


def with_new_aip_uuid(dip):
    """Give a built DIP a fresh AIP UUID, so that each deposit is a new AIP."""
    new = str(uuid.uuid4())
    (mets,) = dip.glob("METS.*.xml")
    old = mets.name[len("METS.") : -len(".xml")]
    mets.rename(dip / f"METS.{new}.xml")
    renamed = dip.with_name(
        dip.name.replace(old, new) if old in dip.name else f"{dip.name}-{new}"
    )
    dip.rename(renamed)
    return renamed


def ingest_processes(ancestors):
    """Return {pid: name} of the ingest processes below the pids `ancestors`.

    Processes of other servers on this host are left alone.
    """
    parents, names = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            names[int(entry.name)] = (entry / "comm").read_text().strip()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The parent pid follows the command name, which sits in parentheses.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])

    def descends(pid):
        while pid > 1:
            if pid in ancestors:
                return True
            pid = parents.get(pid, 0)
        return False

    return {
        pid: name
        for pid, name in names.items()
        if name.startswith("ingest-") and descends(pid)
    }


class Cluster:
    """A web server and several worker processes sharing one data directory."""

    def __init__(self, data_dir, *, workers=3, web_workers=2, **settings):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        for name in ("DATABASE_URL", "DEPOSITUM_QUEUE_URL"):
            self.env.pop(name, None)
        self.env.update(
            {
                "DEPOSITUM_DATA_DIR": str(data_dir),
                "DJANGO_SETTINGS_MODULE": "depositum.settings",
                "DEPOSITUM_HEARTBEAT_INTERVAL": "1",
                "DEPOSITUM_STALE_AFTER": "4",
                "DEPOSITUM_REQUEUE_AFTER": "3",
                "DEPOSITUM_WORKER_THREADS": "2",
            }
        )
        self.env.update(settings)
        self.worker_count = workers
        self.web_worker_count = web_workers
        self.workers = []
        self.web = None
        self.redis = None
        self.queue_database = None
        self.cleanups = []

    def run(self, *args):
        return subprocess.run(
            [sys.executable, "-m", "depositum", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )

    def spawn(self, *args, log):
        with open(self.data_dir / log, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "depositum", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self):
        self.run("migrate", "-v0")
        self.run("createuser", ALICE[0], "--password", ALICE[1])
        self.run("createtarget", "fonds", "--title", "Fonds", "--grant", ALICE[0])
        self.web = self.spawn(
            "serve",
            "--no-worker",
            "--web-workers",
            str(self.web_worker_count),
            "--bind",
            f"127.0.0.1:{self.port}",
            log="web.log",
        )
        self.workers = [
            self.spawn("worker", log="worker.log") for _ in range(self.worker_count)
        ]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/healthz", timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.3)
        raise RuntimeError((self.data_dir / "web.log").read_text())

    def start_redis(self):
        if not shutil.which("redis-server"):
            skip_or_fail("redis-server is not installed")
        port = free_port()
        self.redis_command = [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
        ]  # fmt: skip
        self.redis = subprocess.Popen(self.redis_command, stdout=subprocess.DEVNULL)
        self.env["DEPOSITUM_QUEUE_URL"] = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.5)

    def use_postgres_queue(self, url):
        """Keep the queue in the PostgreSQL database at `url`."""
        self.queue_database = url
        self.env["DEPOSITUM_QUEUE_URL"] = (
            f"{url}?application_name={QUEUE_APPLICATION_NAME}"
        )

    def kill_queue_connections(self):
        """Terminate the backend of every queue connection of this cluster.

        Each process finds its queue connections closed, as after a PostgreSQL
        restart, while its catalogue connections stay up. Return how many
        backends were terminated.
        """
        import psycopg

        with psycopg.connect(self.queue_database, autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s"
                " AND pid <> pg_backend_pid()",
                (QUEUE_APPLICATION_NAME,),
            ).fetchall()
        return sum(1 for (terminated,) in rows if terminated)

    def restart_queue(self):
        """Restart the queue engine; every message waiting in it is lost.

        A PostgreSQL queue shares its server with the catalogue, so it loses
        its messages and its connections instead.
        """
        if self.queue_database is not None:
            import psycopg

            with psycopg.connect(self.queue_database, autocommit=True) as admin:
                admin.execute("DELETE FROM huey_task")
            self.kill_queue_connections()
            return
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait()
            self.redis = subprocess.Popen(self.redis_command, stdout=subprocess.DEVNULL)
            return
        # SqliteHuey has no server: stop the workers, drop the queue file, start
        # them again.
        for worker in self.workers:
            worker.kill()
            worker.wait()
        for path in self.data_dir.glob("queue.sqlite3*"):
            path.unlink()
        self.workers = [
            self.spawn("worker", log="worker.log") for _ in range(self.worker_count)
        ]

    def kill_something(self, rng):
        """SIGKILL a worker (started again at once) or an ingest process."""
        children = list(ingest_processes(self.worker_pids()))
        if children and rng.random() < 0.5:
            os.kill(rng.choice(children), signal.SIGKILL)
            return
        index = rng.randrange(len(self.workers))
        self.workers[index].kill()
        self.workers[index].wait()
        self.workers[index] = self.spawn("worker", log="worker.log")

    def worker_pids(self):
        return {worker.pid for worker in self.workers}

    def deposit_by_reference(self, dip):
        dest = self.data_dir / "deposits" / dip.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(dip, dest)
        response = requests.post(
            f"{self.url}/sword/deposit/fonds",
            headers={
                "X-Packaging": DIP_PACKAGING,
                "Content-Location": f"file:///{dip.name}",
            },
            auth=ALICE[:2],
            timeout=60,
        )
        assert response.status_code == 202, response.text
        return response.headers["Location"]

    def states(self, locations):
        return {loc: requests.get(loc, timeout=10).json() for loc in locations}

    def counts(self):
        script = (
            "import json;"
            "from depositum.catalogue.models import AIP, Description, DigitalFile;"
            "print('COUNTS', json.dumps({'aips': AIP.objects.count(),"
            " 'descriptions': Description.objects.exclude(aip=None).count(),"
            " 'files': DigitalFile.objects.count()}))"
        )
        output = self.run("shell", "-c", script).stdout
        (line,) = [line for line in output.splitlines() if line.startswith("COUNTS ")]
        return json.loads(line.removeprefix("COUNTS "))

    def stop(self):
        children = ingest_processes(self.worker_pids())
        for process in [self.web, *self.workers, self.redis]:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
        for cleanup in self.cleanups:
            cleanup()


@pytest.fixture
def cluster(request, tmp_path):
    backend = getattr(request, "param", "sqlite")
    settings = getattr(request.node.get_closest_marker("cluster"), "kwargs", {})
    cluster = Cluster(tmp_path / "data", **settings)
    cluster.data_dir.mkdir()
    try:
        if backend in ("postgres", "postgres-queue"):
            url, drop = postgres_database()
            cluster.env["DATABASE_URL"] = url
            cluster.cleanups.append(drop)
            if backend == "postgres":
                cluster.start_redis()
            else:
                cluster.use_postgres_queue(url)
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def build_dips(tmp_path, count):
    """Build `count` DIPs with fresh AIP UUIDs; return them with their plans."""
    dips = []
    for number in range(count):
        prefix = ["01", "07", "10"][number % 3]
        dip = build_dip(mets_path(prefix), tmp_path / f"dip-{number}")
        dip = with_new_aip_uuid(dip)
        plan = ArchivematicaDIPExtractor(dip).plan()
        dips.append((dip, plan))
    return dips


@pytest.mark.cluster(DEPOSITUM_MAX_ATTEMPTS="50")
@pytest.mark.parametrize(
    "cluster", ["sqlite", "postgres", "postgres-queue"], indirect=True
)
def test_it_completes_every_deposit_once_despite_kills(cluster, tmp_path):
    rng = random.Random(20261204)
    dips = build_dips(tmp_path, 50)
    locations = []
    halfway, restarted = threading.Event(), threading.Event()

    def send_all():
        for number, (dip, _) in enumerate(dips):
            if number == len(dips) // 2:
                # Half the deposits wait in the queue when it restarts.
                halfway.set()
                restarted.wait(60)
            locations.append(cluster.deposit_by_reference(dip))

    # Deposits arrive while workers are killed and the queue restarts.
    with ThreadPoolExecutor(max_workers=1) as pool:
        sending = pool.submit(send_all)
        started = time.monotonic()
        states = {}
        while time.monotonic() - started < CHAOS_SECONDS:
            if halfway.is_set() and not restarted.is_set():
                cluster.restart_queue()
                restarted.set()
            if sending.done():
                sending.result()
                states = cluster.states(locations)
                if all(s["state"] in ("completed", "failed") for s in states.values()):
                    break
            if rng.random() < 0.6:
                cluster.kill_something(rng)
            cluster.run("reconcile")
            time.sleep(rng.uniform(0.3, 1.0))

    unfinished = {
        loc: s["state"] for loc, s in states.items() if s["state"] != "completed"
    }
    assert unfinished == {}
    assert restarted.is_set()
    counts = cluster.counts()
    assert counts["aips"] == 50
    assert counts["descriptions"] == sum(len(list(p.nodes())) for _, p in dips)
    assert counts["files"] == sum(
        1 for _, p in dips for node in p.nodes() if node.file is not None
    )


# One web process, so the web side of the kill hits the process that takes the
# next request. The reconciler hands a lost deposit to the queue again only
# after 600 s, so a deposit done within the test's waits went through the
# enqueue of its request.
@pytest.mark.cluster(workers=1, web_workers=1, DEPOSITUM_REQUEUE_AFTER="600")
@pytest.mark.parametrize("cluster", ["postgres-queue"], indirect=True)
def test_it_recovers_from_killed_queue_connections(cluster, tmp_path):
    first, second, third = [dip for dip, _ in build_dips(tmp_path, 3)]
    location = cluster.deposit_by_reference(first)
    # The first ingest waits for the worker's forkserver to start.
    assert wait_for_end(location, timeout=60)["state"] == "completed"
    assert requests.get(f"{cluster.url}/healthz", timeout=10).status_code == 200

    # The web process and the worker each hold a queue connection, and each
    # idle ingest thread of the worker one more that waits for NOTIFY.
    assert cluster.kill_queue_connections() >= 3
    location = cluster.deposit_by_reference(second)
    deposit_id = requests.get(location, timeout=10).json()["id"]
    status = wait_for_end(location)

    assert status["state"] == "completed"
    web_log = (cluster.data_dir / "web.log").read_text()
    assert f"Could not hand deposit {deposit_id} to the queue (" in web_log
    assert f"Could not hand deposit {deposit_id} to the queue;" not in web_log
    worker_log = (cluster.data_dir / "worker.log").read_text()
    assert "Error reading from queue" in worker_log

    assert cluster.kill_queue_connections() >= 3
    health = requests.get(f"{cluster.url}/healthz", timeout=10)

    assert health.status_code == 200
    assert health.json() == {"database": "ok", "queue": "ok"}
    web_log = (cluster.data_dir / "web.log").read_text()
    assert "Queue length not read (" in web_log

    # After the second kill, too, the worker takes the next deposit.
    location = cluster.deposit_by_reference(third)
    assert wait_for_end(location)["state"] == "completed"


def wait_for_end(location, timeout=30):
    """Poll a deposit's status until it ends or `timeout` seconds pass.

    Return the last status read.
    """
    deadline = time.monotonic() + timeout
    status = {}
    while time.monotonic() < deadline:
        status = requests.get(location, timeout=10).json()
        if status["state"] in ("completed", "failed"):
            return status
        time.sleep(0.2)
    return status


@pytest.mark.cluster(DEPOSITUM_MAX_ATTEMPTS="3", workers=1)
def test_it_fails_dip_that_kills_every_attempt(cluster, tmp_path):
    # A DIP of ten files is ingested between two polls of the loop below, so
    # the kills could miss it. One of 1,000 files takes a second or more.
    dip = generate_dip(1000, tmp_path)
    location = cluster.deposit_by_reference(dip)
    deposit_id = requests.get(location, timeout=10).json()["id"]

    deadline = time.monotonic() + 120
    status = {}
    while time.monotonic() < deadline:
        for pid, name in ingest_processes(cluster.worker_pids()).items():
            if name == f"ingest-{deposit_id}":
                os.kill(pid, signal.SIGKILL)
        status = requests.get(location, timeout=10).json()
        if status["state"] in ("completed", "failed"):
            break
        time.sleep(0.05)

    assert status["state"] == "failed"
    assert status["attempts"] == 3
    assert "killed by SIGKILL" in status["error"]
    assert "attempt 3 of 3" in status["error"]
    assert cluster.counts()["descriptions"] == 0


def test_it_completes_100_concurrent_deposits(server, tmp_path):
    bodies = []
    for number in range(100):
        dip = with_new_aip_uuid(build_dip(mets_path("10"), tmp_path / f"d{number}"))
        archive = shutil.make_archive(
            str(tmp_path / f"z{number}"), "zip", dip.parent, dip.name
        )
        bodies.append(Path(archive).read_bytes())

    def send(body):
        return requests.post(
            f"{server.url}/sword/deposit/fonds",
            headers={"X-Packaging": DIP_PACKAGING},
            data=body,
            auth=ALICE[:2],
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=100) as pool:
        responses = list(pool.map(send, bodies))

    assert [r.status_code for r in responses] == [202] * 100
    states = [
        server.wait(r.headers["Location"], timeout=300)["state"] for r in responses
    ]
    assert states == ["completed"] * 100
