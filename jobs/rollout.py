"""Which processor runs a job: the per-kind RolloutPolicy.

Bucketing is deterministic on the job id, so a retry lands on the same side.
Modal's error rate over a window can roll a kind back to Celery on its own,
and a monthly budget caps Modal spend. Every change is audited.
"""
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from jobs.models import ComputeJob, JobAttempt, JobStatus, Processor, RolloutPolicy, RolloutPolicyChange

AUDITED_FIELDS = (
    "modal_percentage",
    "fallback_to_celery",
    "rollback_error_rate",
    "rollback_window_minutes",
    "rollback_min_attempts",
    "monthly_budget_usd",
)


def policy_for(kind: str) -> RolloutPolicy:
    policy, _created = RolloutPolicy.objects.get_or_create(kind=kind)
    return policy


def modal_spend_this_month(kind: str) -> Decimal:
    month_start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = JobAttempt.objects.filter(
        job__kind=kind, processor=Processor.MODAL, finished_at__gte=month_start
    ).aggregate(total=Sum("estimated_cost"))["total"]
    return total or Decimal("0")


def over_budget(policy: RolloutPolicy) -> bool:
    return policy.monthly_budget_usd is not None and modal_spend_this_month(policy.kind) >= policy.monthly_budget_usd


def choose_processor(job: ComputeJob, policy: RolloutPolicy, budget_exhausted: bool = False) -> str:
    if budget_exhausted:
        return Processor.CELERY
    return Processor.MODAL if job.bucket < policy.modal_percentage else Processor.CELERY


def change_policy(policy: RolloutPolicy, changes: dict, *, actor=None, reason: str = "") -> RolloutPolicyChange | None:
    """Apply field changes to a policy and record them; returns the audit row (None if nothing changed)."""
    with transaction.atomic():
        locked = RolloutPolicy.objects.select_for_update().get(pk=policy.pk)
        diff = {}
        for field, new in changes.items():
            old = getattr(locked, field)
            if old != new:
                diff[field] = [_jsonable(old), _jsonable(new)]
                setattr(locked, field, new)
        if not diff:
            return None
        locked.save()
        return RolloutPolicyChange.objects.create(policy=locked, changed_by=actor, changes=diff, reason=reason)


def record_policy_edit(policy: RolloutPolicy, old_values: dict, *, actor, reason: str = "") -> RolloutPolicyChange | None:
    """Audit an edit already saved (the admin form saves the model itself)."""
    diff = {
        field: [_jsonable(old_values[field]), _jsonable(getattr(policy, field))]
        for field in AUDITED_FIELDS
        if old_values.get(field) != getattr(policy, field)
    }
    if not diff:
        return None
    return RolloutPolicyChange.objects.create(policy=policy, changed_by=actor, changes=diff, reason=reason)


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else value


def check_automatic_rollback(kind: str) -> bool:
    """Set the kind's Modal share to 0 when Modal's recent error rate passes the threshold."""
    if not cache.add(f"jobs:rollback-check:{kind}", 1, timeout=5):
        return False  # checked a moment ago; a burst of failures needs one check, not thousands
    policy = policy_for(kind)
    if policy.modal_percentage == 0:
        return False
    since = timezone.now() - timedelta(minutes=policy.rollback_window_minutes)
    counts = JobAttempt.objects.filter(
        job__kind=kind, processor=Processor.MODAL, finished_at__gte=since, fell_back=False
    ).aggregate(total=Count("id"), failed=Count("id", filter=Q(status=JobStatus.FAILED)))
    total, failed = counts["total"], counts["failed"]
    if total < policy.rollback_min_attempts or failed / total < policy.rollback_error_rate:
        return False
    reason = (
        f"Automatic rollback: {failed} of {total} Modal attempts failed in the last "
        f"{policy.rollback_window_minutes} minutes (threshold {policy.rollback_error_rate:.0%})."
    )
    change_policy(policy, {"modal_percentage": 0, "rolled_back_at": timezone.now(), "rolled_back_reason": reason}, reason=reason)
    return True
