"""Shared fixtures: real METS files, DIP folders built around them, and a live
depositum server (gunicorn plus a Huey consumer) in subprocesses."""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

FIXTURES = Path(__file__).parent / "fixtures"
METS_DIR = FIXTURES / "mets"

ALICE = ("alice", "alice-password", "alice@example.org")
BOB = ("bob", "bob-password", "bob@example.org")
# A superuser, so allowed to deposit on behalf of others when mediation is on.
CAROL = ("carol", "carol-password", "carol@example.org")

POSTGRES_URL = os.getenv(
    "DEPOSITUM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.getenv("DEPOSITUM_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
# Set by CI on hosts that run PostgreSQL and Redis: a missing server then fails
# the tests instead of skipping them.
REQUIRE_SERVICES = os.getenv("DEPOSITUM_TEST_REQUIRE_SERVICES") == "1"


def mets_path(prefix):
    """Return the fixture METS whose file name starts with `prefix`, e.g. "03"."""
    (path,) = METS_DIR.glob(f"{prefix}_*.xml")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def skip_or_fail(message):
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


class LiveServer:
    """A running `depositum serve` with its own data directory."""

    def __init__(self, data_dir, env):
        self.data_dir = data_dir
        self.env = env
        self.deposit_dir = data_dir / "deposits"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "server.log"
        self.process = None

    def run(self, *args, check=True):
        """Run a depositum command against this server's settings."""
        return subprocess.run(
            [sys.executable, "-m", "depositum", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )

    def start(self):
        self.run("migrate", "-v0")
        self.run("createuser", ALICE[0], "--password", ALICE[1], "--email", ALICE[2])
        self.run("createuser", BOB[0], "--password", BOB[1], "--email", BOB[2])
        self.run(
            "createuser", CAROL[0], "--password", CAROL[1], "--email", CAROL[2],
            "--superuser",
        )  # fmt: skip
        self.run("createtarget", "fonds", "--title", "Test fonds", "--grant", "alice")
        self.run("createtarget", "closed", "--title", "Closed fonds")

        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "depositum",
                    "serve",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"depositum serve exited: {self.log.read_text()}")
            try:
                requests.get(self.url + "/", timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"depositum serve did not answer: {self.log.read_text()}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def place(self, dip):
        """Copy a DIP folder into the deposit directory, as rsync would."""
        dest = self.deposit_dir / dip.name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(dip, dest)
        return dest

    def status(self, location):
        response = requests.get(location, timeout=10)
        response.raise_for_status()
        return response.json()

    def wait(self, location, timeout=60):
        """Poll the deposit status at `location` until it ends; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(location)
            if status["state"] in ("completed", "failed"):
                return status
            time.sleep(0.2)
        raise AssertionError(f"{location} did not finish in {timeout}s: {status}")


def postgres_database():
    """Create an empty PostgreSQL database; return (its URL, a drop function)."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        skip_or_fail(f"PostgreSQL at {POSTGRES_URL} is not reachable: {e}")

    name = f"depositum_live_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name

    def drop():
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return url, drop


def redis_queue():
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        client.flushdb()
    except redis.RedisError as e:
        skip_or_fail(f"Redis at {REDIS_URL} is not reachable: {e}")
    return REDIS_URL


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server(request, tmp_path_factory):
    """A live server on SQLite and SqliteHuey, then on PostgreSQL and Redis."""
    data_dir = tmp_path_factory.mktemp(f"server-{request.param}")
    env = dict(os.environ)
    env.update(
        {
            "DEPOSITUM_DATA_DIR": str(data_dir),
            "DEPOSITUM_LOG_LEVEL": "INFO",
            "DEPOSITUM_SWORD_MEDIATION": "true",
            # Small enough for a test to go over it.
            "DEPOSITUM_MAX_UPLOAD_KB": "10240",
            "DEPOSITUM_UPLOAD_READ_TIMEOUT": "3",
            "DEPOSITUM_UPLOAD_MIN_RATE_KB": "1",
            "DJANGO_SETTINGS_MODULE": "depositum.settings",
        }
    )
    env.pop("DATABASE_URL", None)
    env.pop("DEPOSITUM_QUEUE_URL", None)

    cleanup = None
    if request.param == "postgres":
        env["DATABASE_URL"], cleanup = postgres_database()
        env["DEPOSITUM_QUEUE_URL"] = redis_queue()

    live = LiveServer(data_dir, env)
    try:
        live.start()
        yield live
    finally:
        live.stop()
        if cleanup:
            cleanup()


@pytest.fixture
def build(tmp_path):
    """Build a DIP folder around a fixture METS; return its path."""
    from tests.dips import build_dip

    def builder(prefix, dest=None, **options):
        return build_dip(mets_path(prefix), dest or tmp_path / "dips", **options)

    return builder
