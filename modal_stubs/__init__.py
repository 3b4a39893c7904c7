"""A local stand-in for Modal's cloud, behind the same SDK surface.

`modal_stubs.Function.from_name(app, name).spawn(**payload)`,
`modal_stubs.FunctionCall.from_id(id).get(timeout=0)` / `.cancel()` and
`modal_stubs.exception` behave like `modal`'s, so the Modal backend runs
unchanged against either (settings.MODAL_BACKEND picks). Calls live in the
database; `python manage.py modal_stub_worker` runs them.

Importing this package does not import Django models (the worker's container
processes import modal_stubs.container without Django).
"""
from modal_stubs import exception
from modal_stubs.sdk import Function, FunctionCall

__all__ = ["Function", "FunctionCall", "exception"]
