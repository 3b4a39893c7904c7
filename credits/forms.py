import uuid

from django import forms


class CreditMovementForm(forms.Form):
    """Amount and reason for a staff refund or grant, on the admin confirmation page.

    `token` is fixed when the page is first shown and becomes part of each ledger
    row's idempotency key, so submitting the same page twice moves money once.
    """

    amount = forms.IntegerField(min_value=1, max_value=10_000_000, help_text="Credits per selected account")
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                             help_text="Required. Shown in the user's ledger and in the admin log.")
    token = forms.UUIDField(widget=forms.HiddenInput)

    @staticmethod
    def fresh_initial() -> dict:
        return {"token": uuid.uuid4()}
