"""RolloutPolicy: deterministic split, automatic rollback, budget, audit."""
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from jobs.models import JobAttempt, JobStatus, Processor, RolloutPolicyChange
from jobs.rollout import change_policy, check_automatic_rollback, choose_processor, over_budget, policy_for
from jobs.services import create_job, create_jobs

pytestmark = pytest.mark.django_db


def test_percentage_splits_by_bucket(user):
    policy = policy_for("echo")
    change_policy(policy, {"modal_percentage": 30}, reason="canary")
    policy.refresh_from_db()
    jobs = create_jobs("echo", user, 1000)

    chosen = [choose_processor(job, policy) for job in jobs]

    modal_share = chosen.count(Processor.MODAL) / len(chosen)
    assert 0.25 < modal_share < 0.35
    assert chosen == [choose_processor(job, policy) for job in jobs]  # a retry stays on its side


def test_zero_and_hundred_percent(user):
    policy = policy_for("echo")
    jobs = create_jobs("echo", user, 50)
    change_policy(policy, {"modal_percentage": 0})
    policy.refresh_from_db()
    assert {choose_processor(job, policy) for job in jobs} == {Processor.CELERY}
    change_policy(policy, {"modal_percentage": 100})
    policy.refresh_from_db()
    assert {choose_processor(job, policy) for job in jobs} == {Processor.MODAL}


def test_changes_are_audited(user, staff_user):
    policy = policy_for("echo")
    change = change_policy(policy, {"modal_percentage": 40, "fallback_to_celery": False}, actor=staff_user, reason="r")
    assert change.changes == {"modal_percentage": [100, 40], "fallback_to_celery": [True, False]}
    assert change.changed_by == staff_user
    assert change_policy(policy, {"modal_percentage": 40}) is None


def _finished_modal_attempts(user, failed, succeeded):
    for index in range(failed + succeeded):
        job = create_job("echo", user)
        JobAttempt.objects.create(job=job, number=1, processor=Processor.MODAL, function_name="test_echo",
                                  status=JobStatus.FAILED if index < failed else JobStatus.SUCCEEDED,
                                  finished_at=timezone.now(), estimated_cost=Decimal("0.5"))


def test_automatic_rollback_when_modal_fails_too_often(user):
    cache.clear()
    policy = policy_for("echo")
    change_policy(policy, {"rollback_min_attempts": 10, "rollback_error_rate": 0.5})
    _finished_modal_attempts(user, failed=6, succeeded=4)

    assert check_automatic_rollback("echo") is True

    policy.refresh_from_db()
    assert policy.modal_percentage == 0
    assert "6 of 10" in policy.rolled_back_reason
    assert RolloutPolicyChange.objects.filter(policy=policy, changes__modal_percentage=[100, 0]).exists()


def test_no_rollback_below_the_threshold(user):
    cache.clear()
    policy = policy_for("echo")
    change_policy(policy, {"rollback_min_attempts": 10, "rollback_error_rate": 0.5})
    _finished_modal_attempts(user, failed=3, succeeded=7)
    assert check_automatic_rollback("echo") is False
    policy.refresh_from_db()
    assert policy.modal_percentage == 100


def test_monthly_budget_sends_new_jobs_to_celery(user):
    policy = policy_for("echo")
    _finished_modal_attempts(user, failed=0, succeeded=4)  # 4 x $0.50 this month
    change_policy(policy, {"monthly_budget_usd": Decimal("1.50")})
    policy.refresh_from_db()
    assert over_budget(policy) is True
    job = create_job("echo", user)
    assert choose_processor(job, policy, budget_exhausted=True) == Processor.CELERY
    change_policy(policy, {"monthly_budget_usd": Decimal("10.00")})
    policy.refresh_from_db()
    assert over_budget(policy) is False
