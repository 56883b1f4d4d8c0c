"""The worker side of an ingest: handing deposits to the queue, claiming, and a
child process that dies."""

import datetime
import multiprocessing
import os
import signal

import pytest
from huey.contrib.djhuey import HUEY

from depositum.catalogue.models import Description
from depositum.deposits import child, lifecycle, runner
from depositum.deposits.models import Deposit, Source, State
from depositum.deposits.tasks import pending_deposit_ids

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def deposit():
    target = Description.objects.create(slug="fonds", title="Fonds")
    return Deposit.objects.create(
        target=target,
        target_slug=target.slug,
        packaging="http://purl.org/net/sword-types/METSArchivematicaDIP",
        source=Source.REFERENCE,
        path="/nonexistent/dip",
    )


def kill_self(deposit_id, token):
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.fixture
def crashing(monkeypatch):
    """Make every ingest process kill itself, and record what was queued."""
    # A forked child runs the replaced function; the forkserver would not.
    monkeypatch.setattr(runner, "context", lambda: multiprocessing.get_context("fork"))
    monkeypatch.setattr(child, "ingest_in_child", kill_self)
    queued = []
    monkeypatch.setattr(lifecycle, "enqueue", queued.append)
    return queued


def test_it_queues_deposit_again_after_a_crash(deposit, crashing, settings):
    settings.MAX_ATTEMPTS = 3

    runner.run_deposit(deposit.id)

    deposit.refresh_from_db()
    assert deposit.state == State.QUEUED
    assert crashing == [deposit.id]
    assert "killed by SIGKILL" in deposit.error
    assert deposit.attempts == 1


def test_it_fails_deposit_that_crashes_every_attempt(deposit, crashing, settings):
    settings.MAX_ATTEMPTS = 3

    for _ in range(3):
        runner.run_deposit(deposit.id)

    deposit.refresh_from_db()
    assert deposit.state == State.FAILED
    assert deposit.attempts == 3
    assert "killed by SIGKILL" in deposit.error
    assert "attempt 3 of 3" in deposit.error
    assert deposit.finished_at is not None


class ChildStub:
    """A child process that exits after `joins` waits, unless it is killed."""

    pid = 4242

    def __init__(self, joins):
        self.joins = joins
        self.exitcode = None
        self.killed = False

    def join(self, timeout):
        self.joins -= 1
        if self.joins == 0:
            self.exitcode = 0

    def kill(self):
        self.killed = True
        self.exitcode = -signal.SIGKILL


def test_it_lets_a_finished_child_clean_up(deposit):
    token = lifecycle.claim(deposit.id)
    lifecycle.owned(deposit.id, token).update(state=State.COMPLETED)
    process = ChildStub(joins=5)

    runner.watch(deposit.id, token, process)

    assert not process.killed
    assert process.exitcode == 0


def test_it_kills_child_of_taken_over_deposit(deposit):
    token = lifecycle.claim(deposit.id)
    Deposit.objects.filter(id=deposit.id).update(worker_token="another attempt")
    process = ChildStub(joins=5)

    runner.watch(deposit.id, token, process)

    assert process.killed


def test_it_claims_a_deposit_once(deposit):
    first = lifecycle.claim(deposit.id)
    second = lifecycle.claim(deposit.id)

    assert first is not None
    assert second is None


def test_it_ignores_writes_with_a_stale_token(deposit):
    lifecycle.claim(deposit.id)

    written = lifecycle.fail(deposit.id, "not-the-token", "boom")

    deposit.refresh_from_db()
    assert written is False
    assert deposit.state == State.PROCESSING


def test_it_requeues_deposit_without_heartbeat(deposit, settings):
    settings.STALE_AFTER = 60
    lifecycle.claim(deposit.id)
    later = deposit.created_at + datetime.timedelta(seconds=3600)

    requeued = lifecycle.requeue_or_fail_stale(now=later)

    deposit.refresh_from_db()
    assert requeued == [deposit.id]
    assert deposit.state == State.QUEUED


def test_it_fails_stale_deposit_after_last_attempt(deposit, settings):
    settings.STALE_AFTER = 60
    settings.MAX_ATTEMPTS = 1
    lifecycle.claim(deposit.id)
    later = deposit.created_at + datetime.timedelta(seconds=3600)

    lifecycle.requeue_or_fail_stale(now=later)

    deposit.refresh_from_db()
    assert deposit.state == State.FAILED
    assert "each of 1 attempts" in deposit.error


def test_it_removes_files_of_a_failed_ingest(deposit, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    stored = tmp_path / "aips" / "some-aip" / str(deposit.uuid)
    stored.mkdir(parents=True)
    (stored / "copy.jpg").write_bytes(b"jpeg")
    token = lifecycle.claim(deposit.id)

    lifecycle.fail(deposit.id, token, "boom")

    assert not stored.exists()


def fail_enqueues(monkeypatch, count):
    """Empty the test queue and make its next `count` enqueues raise.

    Return the list of messages passed to the queue, one per call.
    """
    storage = HUEY.storage
    real_enqueue = storage.enqueue
    calls = []

    def enqueue(data, priority=None):
        calls.append(data)
        if len(calls) <= count:
            raise ConnectionError("the connection is lost")
        return real_enqueue(data, priority)

    storage.flush_queue()
    monkeypatch.setattr(storage, "enqueue", enqueue)
    return calls


def test_enqueue_tries_again_after_a_failure(deposit, monkeypatch, caplog):
    calls = fail_enqueues(monkeypatch, 1)

    assert lifecycle.enqueue(deposit.id) is True

    assert len(calls) == 2
    assert pending_deposit_ids() == {deposit.id}
    deposit.refresh_from_db()
    assert deposit.enqueued_at is not None
    assert (
        f"Could not hand deposit {deposit.id} to the queue (ConnectionError: the"
        " connection is lost); trying once more"
    ) in caplog.text


def test_enqueue_leaves_deposit_to_reconciler(deposit, monkeypatch, caplog):
    calls = fail_enqueues(monkeypatch, 2)

    assert lifecycle.enqueue(deposit.id) is False

    assert len(calls) == 2
    assert pending_deposit_ids() == set()
    deposit.refresh_from_db()
    assert deposit.state == State.QUEUED
    assert deposit.enqueued_at is None
    assert (
        f"Could not hand deposit {deposit.id} to the queue; the reconciler retries it"
    ) in caplog.text
