from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="credits_open_account_for_new_user")
def open_account_for_new_user(sender, instance, created, raw=False, **kwargs):
    """New users start with an account and the sign-up grant (fixtures loading raw rows excepted)."""
    if created and not raw:
        from credits.services import account_for

        account_for(instance)
