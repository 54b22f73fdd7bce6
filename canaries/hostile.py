"""Characters hostile or damaged text slips in, removed before anything is read or stored:
the one cleaning rule of honeytrace.

C0 and C1 controls (a NUL inside a cell: PostgreSQL refuses it in text, so one byte would
lose a sighting), zero-width characters and bidirectional overrides (U+202E shows `5678` as
`8765`) can sit between the digits of a mobile or the characters of a name. Removed, they
neither stop a canary's row from matching nor reach a text column or an investigator's
screen; where what was seen is evidence, its raw bytes stay whole in the evidence blob.

- `clean_text`: free text (a row of a file, a listing, an SMS): tab, newline and carriage
  return stay, they shape the rows.
- `clean_label`: a short label shown back to people (a link's name, an id): line breaks
  and tabs go too.
"""

import re

HOSTILE = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
_HOSTILE = re.compile(HOSTILE)
_HOSTILE_IN_LABEL = re.compile(HOSTILE[:-1] + "\t\n\r]")


def clean_text(text: str) -> str:
    return _HOSTILE.sub("", text) if _HOSTILE.search(text) else text


def clean_label(text: str) -> str:
    return _HOSTILE_IN_LABEL.sub("", text)
