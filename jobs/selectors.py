from django.db.models import Count

from jobs.models import ComputeJob


def jobs_for(owner, *, kind: str | None = None, status: str | None = None):
    jobs = ComputeJob.objects.filter(owner=owner)
    if kind:
        jobs = jobs.filter(kind=kind)
    if status:
        jobs = jobs.filter(status=status)
    return jobs


def job_for(owner, job_id) -> ComputeJob:
    """The owner's job; raises ComputeJob.DoesNotExist for anyone else's."""
    return ComputeJob.objects.prefetch_related("attempts").get(owner=owner, pk=job_id)


def status_counts(queryset=None) -> dict[str, dict[str, int]]:
    """{kind: {status: count}} in one aggregate query, for the operators' overview."""
    queryset = ComputeJob.objects.all() if queryset is None else queryset
    counts: dict[str, dict[str, int]] = {}
    for row in queryset.values("kind", "status").annotate(n=Count("pk")).order_by():
        counts.setdefault(row["kind"], {})[row["status"]] = row["n"]
    return counts
