import importlib
import os

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Compute jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Test suites register job kinds of their own; worker processes they start inherit this
        # variable so that the kinds exist there too. Workload apps register theirs in their ready().
        for module_name in filter(None, os.environ.get("PORTAL_EXTRA_JOB_KINDS", "").split(",")):
            importlib.import_module(module_name.strip())
