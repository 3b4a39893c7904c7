from django.apps import AppConfig


class MeshingConfig(AppConfig):
    name = "meshing"
    verbose_name = "Meshing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from meshing.jobs import register

        register()
