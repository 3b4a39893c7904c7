"""Calls to the local stand-in for Modal, kept in the database."""
from django.db import models
from django.db.models.functions import Now


class StubCall(models.Model):
    """One `Function.spawn(...)`: its input, where it is, and (until it expires) its result."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"
        EXPIRED = "expired"  # finished, and its result is no longer kept

    # Modal's FunctionCall.object_id ("fc-" + ULID); ULIDs sort by creation time.
    object_id = models.CharField(primary_key=True, max_length=32, editable=False)
    # As in Modal, a function belongs to an app; a worker serves one app (tests use their own).
    app_name = models.CharField(max_length=100)
    function_name = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)  # {"args": [...], "kwargs": {...}}
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error_type = models.CharField(max_length=60, blank=True, default="")
    # The exception class ("module:QualName") that get() re-raises, as Modal re-raises the user's own.
    error_class = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    worker = models.CharField(max_length=100, blank=True, default="")  # the worker holding a running call
    created_at = models.DateTimeField(db_default=Now())
    available_at = models.DateTimeField(db_default=Now())  # a queued call waits until then (retry backoff)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-object_id"]  # ULIDs sort by creation time: newest first through the primary key
        indexes = [
            # The worker's claim: queued calls of one function, oldest first.
            models.Index(
                fields=["app_name", "function_name", "available_at"],
                name="stubcall_queued_idx",
                condition=models.Q(status="queued"),
            ),
            # Recovering calls whose worker died.
            models.Index(fields=["heartbeat_at"], name="stubcall_running_idx", condition=models.Q(status="running")),
            models.Index(fields=["expires_at"], name="stubcall_expires_idx", condition=models.Q(expires_at__isnull=False)),
            models.Index(fields=["status", "-object_id"], name="stubcall_status_idx"),  # the admin's filter
        ]

    def __str__(self):
        return f"{self.object_id} {self.function_name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status not in (self.Status.QUEUED, self.Status.RUNNING)
