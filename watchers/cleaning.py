"""Text from outside, made safe to store and show: the one cleaning rule of honeytrace.

What leaked files, pages, messages and API callers hand over may carry bytes no text column
should hold: NUL (PostgreSQL refuses it in text, so one byte would lose a sighting), other
C0 and C1 control characters, and the invisible characters that make text read differently
from what it is (bidi overrides such as U+202E, zero-width joiners, the BOM). Cleaning drops
them from text that is stored, matched or shown; the raw bytes, where they are evidence,
are kept unchanged in the evidence blob.

- `clean_text`: free text (a listing, an SMS, a row of a file): drops NUL, C0 controls
  except tab, line feed and carriage return, DEL and C1 controls.
- `clean_label`: a short label shown back to people (a link's name, an audit filter): also
  drops line breaks, tabs, bidi controls and zero-width characters, so a name cannot
  pretend to be another on a page.
"""

import re

# C0 controls but \t \n \r, DEL, C1 controls.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Everything a label drops: all C0/C1 controls, bidi embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069), marks (U+200E, U+200F, U+061C), zero-width characters
# (U+200B-U+200D, U+2060) and the BOM / zero-width no-break space (U+FEFF).
_INVISIBLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]"
)


def clean_text(text: str) -> str:
    return _CONTROLS.sub("", text)


def clean_label(text: str) -> str:
    return _INVISIBLE.sub("", text)


def is_clean_label(text: str) -> bool:
    return _INVISIBLE.search(text) is None
