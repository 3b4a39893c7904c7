from django.apps import AppConfig


class ModalStubsConfig(AppConfig):
    name = "modal_stubs"
    default_auto_field = "django.db.models.BigAutoField"
