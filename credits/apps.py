from django.apps import AppConfig


class CreditsConfig(AppConfig):
    name = "credits"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from credits import signals  # noqa: F401  (connects the sign-up grant)
