"""Characters a hostile or damaged file slips into rows, removed before anything is read.

C0 and C1 controls (a NUL inside a cell), zero-width characters and bidirectional
overrides (U+202E shows `5678` as `8765`) can sit between the digits of a mobile or the
characters of a name; removed, they neither stop a canary's row from matching nor reach an
investigator's screen inside the evidence. Tab, newline and carriage return stay: they
shape the rows.
"""

import re

HOSTILE = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
_HOSTILE = re.compile(HOSTILE)


def without_hostile(text: str) -> str:
    return _HOSTILE.sub("", text) if _HOSTILE.search(text) else text
