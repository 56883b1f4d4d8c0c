"""The pip extras: a configuration that needs one names it when it is missing."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from depositum import extras
from depositum.queue import huey_from_url


@pytest.fixture
def missing(monkeypatch):
    """Make the modules named in the returned set look uninstalled."""
    names = set()
    find_spec = extras.importlib.util.find_spec

    def fake_find_spec(name, *args):
        return None if name in names else find_spec(name, *args)

    monkeypatch.setattr(extras.importlib.util, "find_spec", fake_find_spec)
    return names


def test_redis_queue_without_redis_names_the_extra(missing):
    missing.add("redis")

    with pytest.raises(ImproperlyConfigured) as caught:
        huey_from_url("redis://127.0.0.1:6379/0")

    assert str(caught.value) == (
        "A redis:// DEPOSITUM_QUEUE_URL needs the Python package redis, which is"
        " not installed: pip install 'depositum[redis]' in depositum's virtualenv"
    )


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_queue_without_psycopg(missing, scheme):
    missing.add("psycopg")

    with pytest.raises(ImproperlyConfigured) as caught:
        huey_from_url(f"{scheme}://depositum@127.0.0.1/queue")

    assert str(caught.value) == (
        f"A {scheme}:// DEPOSITUM_QUEUE_URL needs the Python package psycopg,"
        " which is not installed: pip install 'depositum[postgres]' in"
        " depositum's virtualenv"
    )


def test_postgres_queue_with_psycopg_3_1(monkeypatch):
    import psycopg

    monkeypatch.setattr(psycopg, "__version__", "3.1.19")

    with pytest.raises(ImproperlyConfigured) as caught:
        huey_from_url("postgresql://depositum@127.0.0.1/queue")

    assert str(caught.value) == (
        "A postgresql:// DEPOSITUM_QUEUE_URL needs psycopg 3.2 or newer, but"
        " psycopg 3.1.19 is installed: pip install 'depositum[postgres]' in"
        " depositum's virtualenv"
    )


def test_postgres_database_without_psycopg_names_the_extra(tmp_path):
    # None in sys.modules makes find_spec() report the package as missing.
    code = "import sys; sys.modules['psycopg'] = None\nimport django; django.setup()\n"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "depositum.settings",
        "DEPOSITUM_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://depositum@127.0.0.1:5432/depositum",
    }

    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )

    assert result.returncode == 1
    assert (
        "ImproperlyConfigured: A PostgreSQL DATABASE_URL needs the Python package"
        " psycopg, which is not installed: pip install 'depositum[postgres]'"
    ) in result.stderr


def test_command_reports_invalid_settings_in_one_line(tmp_path):
    env = {
        **os.environ,
        "DEPOSITUM_DATA_DIR": str(tmp_path),
        "DEPOSITUM_QUEUE_URL": "ftp://queue.example.org/depositum",
    }

    result = subprocess.run(
        [sys.executable, "-m", "depositum", "serve"],
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    assert result.stderr == (
        "depositum: invalid settings: DEPOSITUM_QUEUE_URL="
        "'ftp://queue.example.org/depositum' has an unknown scheme: use"
        " sqlite:////path, redis://host:port/db or postgresql://user@host/db\n"
    )
