from django.conf import settings
from django.db import models

from credits.models import ChargedRun


class ResearchTemplate(models.Model):
    """An ordered list of sections that a research job works through, one LLM call each."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class TemplateSection(models.Model):
    template = models.ForeignKey(ResearchTemplate, on_delete=models.CASCADE, related_name="sections")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    prompt = models.TextField(help_text="Sent to the LLM; {subject} is replaced by the job's subject.")

    class Meta:
        ordering = ["template", "position"]
        constraints = [
            models.UniqueConstraint(fields=["template", "position"], name="unique_template_section_position")
        ]

    def __str__(self):
        return f"{self.position}. {self.title}"


class ResearchJob(ChargedRun):
    """One run of a template on a subject; its sections are saved as each one finishes."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="research_jobs")
    subject = models.CharField(max_length=500)
    template = models.ForeignKey(ResearchTemplate, on_delete=models.PROTECT, related_name="jobs")
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=120)
    # The template's sections as they were at submission, so that a retry asks the same
    # questions even if an operator has edited the template since.
    section_plan = models.JSONField(default=list)
    job = models.OneToOneField("jobs.ComputeJob", on_delete=models.PROTECT, related_name="research")
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return f"{self.template} for {self.subject}"

    @property
    def total_sections(self) -> int:
        return len(self.section_plan)


class ResearchSection(models.Model):
    research_job = models.ForeignKey(ResearchJob, on_delete=models.CASCADE, related_name="sections")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    content = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=8, default=0)
    completed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["research_job", "position"]
        constraints = [
            # A section is saved once, whichever of the callback, the poller or a retry gets there first.
            models.UniqueConstraint(fields=["research_job", "position"], name="unique_research_section_position")
        ]

    def __str__(self):
        return f"{self.position}. {self.title}"
