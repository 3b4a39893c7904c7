from django.apps import AppConfig


class MeshingConfig(AppConfig):
    name = "meshing"
    default_auto_field = "django.db.models.BigAutoField"
