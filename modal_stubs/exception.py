"""Modal's own exception classes, re-exported.

The stub raises the very classes the installed `modal` package defines, so code
written against Modal (`except modal.exception.OutputExpiredError`) catches the
stub's exceptions unchanged.
"""
import modal.exception as _modal_exception
from modal.exception import (  # noqa: F401 - the ones the stub raises, named for readers
    Error,
    ExecutionError,
    FunctionTimeoutError,
    InvalidError,
    NotFoundError,
    OutputExpiredError,
    RemoteError,
)

# Every other public exception or warning class too, so the module is a drop-in for modal.exception.
globals().update(
    {
        name: value
        for name, value in vars(_modal_exception).items()
        if not name.startswith("_") and isinstance(value, type) and issubclass(value, BaseException)
    }
)
