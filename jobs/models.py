import hashlib
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DISPATCHED = "dispatched", "Dispatched"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


IN_FLIGHT = (JobStatus.DISPATCHED, JobStatus.RUNNING)
TERMINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Processor(models.TextChoices):
    MODAL = "modal", "Modal"
    CELERY = "celery", "Celery"


class ComputeJob(models.Model):
    """The one record an operator watches for any piece of heavy work."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=40, db_index=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="compute_jobs")
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.PENDING)
    processor = models.CharField(max_length=10, choices=Processor.choices, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    progress_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    compute_seconds = models.FloatField(default=0)
    estimated_cost = models.DecimalField(max_digits=16, decimal_places=8, default=0)
    error_type = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "kind"]),
            models.Index(fields=["owner", "-created_at"]),
        ]

    def __str__(self):
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def bucket(self) -> int:
        """0-99, fixed for the job's lifetime, so that a retry stays on the same side of a rollout."""
        return int(hashlib.sha256(self.id.bytes).hexdigest()[:8], 16) % 100

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def progress_text(self) -> str:
        if not self.progress_total:
            return self.progress_label
        text = f"{self.progress_done}/{self.progress_total}"
        return f"{text} {self.progress_label}".strip()


class JobAttempt(models.Model):
    """One try at a job on one processor; a retry adds another."""

    job = models.ForeignKey(ComputeJob, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    processor = models.CharField(max_length=10, choices=Processor.choices)
    function_name = models.CharField(max_length=80)
    call_id = models.CharField(max_length=80, blank=True, db_index=True, help_text="Modal FunctionCall id or Celery task id")
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.PENDING)
    fell_back = models.BooleanField(default=False, help_text="Sent to Celery because spawning on Modal failed")
    result_ready = models.BooleanField(default=False, help_text="The function reported that it finished")
    submitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    compute_seconds = models.FloatField(default=0)
    estimated_cost = models.DecimalField(max_digits=16, decimal_places=8, default=0)
    error_type = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="unique_attempt_number")]
        indexes = [
            models.Index(
                fields=["processor", "id"],
                name="attempt_in_flight",
                condition=models.Q(status__in=["dispatched", "running"]),
            ),
        ]

    def __str__(self):
        return f"attempt {self.number} of {self.job_id} on {self.processor}"


class JobLogLine(models.Model):
    job = models.ForeignKey(ComputeJob, on_delete=models.CASCADE, related_name="log_lines")
    attempt = models.ForeignKey(JobAttempt, on_delete=models.CASCADE, null=True, blank=True, related_name="log_lines")
    created_at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=10, default="info")
    message = models.TextField()

    class Meta:
        ordering = ["id"]


class RolloutPolicy(models.Model):
    """How much of one job kind's traffic goes to Modal; the rest runs on Celery."""

    kind = models.CharField(max_length=40, unique=True)
    modal_percentage = models.PositiveSmallIntegerField(
        default=100, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    fallback_to_celery = models.BooleanField(default=True, help_text="Run on Celery when spawning on Modal fails")
    rollback_error_rate = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Share of failed Modal attempts in the window that sets the percentage to 0",
    )
    rollback_window_minutes = models.PositiveIntegerField(default=15)
    rollback_min_attempts = models.PositiveIntegerField(default=20)
    monthly_budget_usd = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Past this month's Modal spend, new jobs go to Celery"
    )
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    rolled_back_reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "rollout policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(modal_percentage__gte=0, modal_percentage__lte=100), name="modal_percentage_0_100"
            )
        ]

    def __str__(self):
        return f"{self.kind}: {self.modal_percentage}% to Modal"


class RolloutPolicyChange(models.Model):
    """Audit trail: every change of a rollout policy, by a person or by automatic rollback."""

    policy = models.ForeignKey(RolloutPolicy, on_delete=models.CASCADE, related_name="changes")
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    changes = models.JSONField(help_text='{"field": [old, new]}')
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-changed_at"]
