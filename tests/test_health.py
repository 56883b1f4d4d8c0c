"""/healthz and /metrics when a read of the queue length fails once or twice."""

import math

import pytest
from huey.contrib.djhuey import HUEY

from depositum.deposits import health

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing_reads(monkeypatch):
    """Make the first `failures` reads of the queue length raise ConnectionError.

    The test sets `failures` in the returned dict, whose `calls` counts reads.
    """
    real_queue_size = HUEY.storage.queue_size
    state = {"failures": 0, "calls": 0}

    def queue_size():
        state["calls"] += 1
        if state["calls"] <= state["failures"]:
            raise ConnectionError("the connection is lost")
        return real_queue_size()

    monkeypatch.setattr(HUEY.storage, "queue_size", queue_size)
    return state


def test_healthz_survives_one_failed_read(client, failing_reads, caplog):
    failing_reads["failures"] = 1

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "queue": "ok"}
    assert failing_reads["calls"] == 2
    assert (
        "Queue length not read (ConnectionError: the connection is lost);"
        " trying once more"
    ) in caplog.text


def test_healthz_reports_two_failed_reads(client, failing_reads, caplog):
    failing_reads["failures"] = 2

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"database": "ok", "queue": "failed: ConnectionError"}
    assert failing_reads["calls"] == 2
    assert "Health check: queue failed: the connection is lost" in caplog.text


def test_queue_depth_survives_one_failed_read(failing_reads):
    failing_reads["failures"] = 1

    assert health.queue_depth() == HUEY.pending_count()


def test_queue_depth_is_nan_after_two_failed_reads(failing_reads):
    failing_reads["failures"] = 2

    assert math.isnan(health.queue_depth())
