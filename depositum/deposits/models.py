"""Deposits: one row per package received, the source of truth for its state.

The queue carries only deposit ids. A worker claims a deposit by moving it from
queued to processing with a conditional update, so a message delivered twice
starts one ingest.
"""

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class State(models.TextChoices):
    # A SWORD 2 container sent with In-Progress: true, still receiving files.
    COLLECTING = "collecting", "Collecting"
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class Source(models.TextChoices):
    # A DIP folder already in DEPOSITUM_DEPOSIT_DIR, named by Content-Location.
    REFERENCE = "reference", "By reference"
    # Zips sent as request bodies, stored in a folder under DEPOSITUM_UPLOAD_DIR
    # and unpacked one over the other in the order they came.
    UPLOAD = "upload", "By value"


class Deposit(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.QUEUED, db_index=True
    )
    target = models.ForeignKey(
        "catalogue.Description", models.SET_NULL, null=True, related_name="+"
    )
    # Kept apart from `target` so the record survives the target's deletion.
    target_slug = models.CharField(max_length=255)
    depositor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="deposits"
    )
    # The user a mediated deposit was made for (SWORD On-Behalf-Of), else None.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_deposits",
    )
    packaging = models.CharField(max_length=255)
    source = models.CharField(max_length=16, choices=Source.choices)
    # Absolute path of the DIP folder (by reference) or of the folder of
    # uploaded zips (by value).
    path = models.CharField(max_length=4096)
    filename = models.CharField(max_length=1024, blank=True)
    # The zips received, in order: [{"name", "filename", "size", "received_at"}].
    # The files themselves are removed after the ingest; this record stays.
    parts = models.JSONField(default=list, blank=True)
    size = models.BigIntegerField(null=True, blank=True, help_text="bytes uploaded")
    user_agent = models.CharField(max_length=1024, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the deposit was last handed to the queue, and how many times a worker
    # has claimed it.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Set by the worker that claimed the deposit; every later write checks it.
    worker_token = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    aip = models.ForeignKey(
        "catalogue.AIP", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    top_description = models.ForeignKey(
        "catalogue.Description",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    descriptions_created = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("mediate", "Can deposit on behalf of other users")]
        # The dashboard and the deposit list show the newest deposits first,
        # of all states or of one.
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="deposit_newest"),
            models.Index(fields=["state", "-created_at"], name="deposit_state_newest"),
        ]

    def __str__(self):
        return f"Deposit {self.id} into {self.target_slug} ({self.state})"

    def get_absolute_url(self):
        return reverse("deposit", args=[self.uuid])

    def get_api_url(self):
        return reverse("api-deposit", args=[self.uuid])

    def upload_folder(self):
        return Path(self.path)

    def upload_parts(self):
        """Return the uploaded zips in the order they came."""
        folder = self.upload_folder()
        if self.source != Source.UPLOAD or not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.name.endswith(".zip"))

    def may_be_changed_by(self, user):
        return user.is_superuser or user.id in (self.depositor_id, self.owner_id)

    @property
    def is_finished(self):
        return self.state in (State.COMPLETED, State.FAILED)


class Worker(models.Model):
    """A `depositum worker` process, and when it last reported itself alive."""

    name = models.CharField(max_length=255, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-heartbeat_at"]

    def __str__(self):
        return self.name


class LoginFailure(models.Model):
    """A failed HTTP Basic login, kept for DEPOSITUM_LOGIN_FAILURE_WINDOW seconds
    to throttle password guessing per user name and client address."""

    username = models.CharField(max_length=255)
    address = models.CharField(max_length=64)
    failed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["username", "address", "failed_at"])]
