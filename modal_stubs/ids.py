"""FunctionCall ids in Modal's form.

Modal's call ids are "fc-" followed by a 26-character ULID in Crockford base32
(for example "fc-01M2YTAV86BW1C2X49E7R7N381"): 48 bits of milliseconds then 80
random bits. Ids made the same way sort by creation time, as Modal's do.
"""
from __future__ import annotations

import re
import secrets
import time

PREFIX = "fc-"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CALL_ID_PATTERN = re.compile(r"^fc-[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def new_call_id() -> str:
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD[index])
    return PREFIX + "".join(reversed(chars))


def is_call_id(value: str) -> bool:
    return bool(CALL_ID_PATTERN.match(value or ""))
