from datetime import datetime

from ninja import Router, Schema
from ninja.pagination import PageNumberPagination, paginate

from credits import selectors

router = Router(tags=["credits"])


class BalanceOut(Schema):
    balance: int
    unit: str = "credits"


class TransactionOut(Schema):
    id: int
    kind: str
    amount: int
    balance_after: int
    description: str
    reference: str
    created_at: datetime


@router.get("/balance", response=BalanceOut, summary="Your credit balance")
def balance(request):
    return {"balance": selectors.balance_of(request.auth)}


@router.get("/transactions", response=list[TransactionOut], summary="Your credit ledger, newest first")
@paginate(PageNumberPagination, page_size=50)
def transactions(request):
    return selectors.transactions_of(request.auth)
