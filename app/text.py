"""Text from API callers, made safe at the edge: the types request bodies and queries use.

One rule (canaries.hostile): no NUL or other control character ever reaches a text
column (PostgreSQL refuses NUL outright, so one byte would turn a request into a 500), and
names shown back to people hold no invisible characters that make them read as another.
- `FreeText`: what people paste or send (a listing, an SMS, an address): the characters are
  dropped, the rest kept.
- `SafeText`: identifiers and URLs: a control character is refused (422), not guessed at.
- `Label`: names shown on pages (links, keys, sites, subscriptions, feed headers): control,
  bidi and zero-width characters are refused (422).
"""

from typing import Annotated

from pydantic import AfterValidator

from canaries.hostile import clean_label, clean_text


def _no_controls(value: str) -> str:
    if clean_text(value) != value:
        raise ValueError("must not contain NUL or other control characters")
    return value


def _label(value: str) -> str:
    if clean_label(value) != value:
        raise ValueError(
            "must not contain control characters, bidi overrides or zero-width characters"
        )
    return value


FreeText = Annotated[str, AfterValidator(clean_text)]
SafeText = Annotated[str, AfterValidator(_no_controls)]
Label = Annotated[str, AfterValidator(_label)]
