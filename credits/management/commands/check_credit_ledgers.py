from django.core.management.base import BaseCommand, CommandError

from credits.selectors import ledger_mismatches


class Command(BaseCommand):
    help = "Report every credit account whose balance differs from the sum of its ledger."

    def handle(self, *args, **options):
        mismatches = list(ledger_mismatches())
        for account in mismatches:
            self.stdout.write(
                f"account {account.pk} ({account.user}): balance {account.balance}, "
                f"ledger sum {account.ledger_total}, difference {account.balance - account.ledger_total}"
            )
        if mismatches:
            raise CommandError(f"{len(mismatches)} credit account(s) do not match their ledger")
        self.stdout.write(self.style.SUCCESS("Every credit account matches its ledger."))
