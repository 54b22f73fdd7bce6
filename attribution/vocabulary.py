"""Every word attribution writes, in English and Chinese, from one place.

GLOSSARY fixes the domain's terms (诱饵运单 is a canary, 网点 an outlet, ...); MESSAGES are
the sentences, format strings with named parameters. Both live in a gettext catalogue,
attribution/locale/zh/LC_MESSAGES/attribution.po, read and compiled by Babel: English is the
source language (the msgid; the plural the msgid_plural), Chinese the translation, and the
key the code names a message by is its msgctxt (`glossary|<term>` for the glossary). A
message that counts something takes ngettext's form for its `n` parameter. The words agree
with the pages' glossary (app/web/i18n.py).
"""

import gettext
import io
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.catalog import Message as CatalogMessage
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


class Lang(StrEnum):
    EN = "en"
    ZH = "zh"


LOCALE = Path(__file__).parent / "locale"
DOMAIN = "attribution"
GLOSSARY_CONTEXT = "glossary|"


@dataclass(frozen=True, slots=True)
class Message:
    en: str
    en_plural: str | None
    zh: str
    context: str = ""

    def template(self, lang: Lang, n: int | None) -> str:
        """The format string in `lang`, through gettext: ngettext's form for `n` when the
        message counts something, else its one form."""
        if lang is Lang.ZH:
            if not self.zh:  # empty on purpose (Chinese sentences run on), where gettext
                return self.zh  # would fall back to the English
            if self.en_plural is None:
                return _ZH.pgettext(self.context, self.en)
            return _ZH.npgettext(self.context, self.en, self.en_plural, 1 if n is None else n)
        if self.en_plural is None or n is None:
            return self.en
        return _SOURCE.ngettext(self.en, self.en_plural, n)


def _catalogue() -> tuple[Catalog, gettext.GNUTranslations]:
    """The Chinese catalogue (English is the source language), compiled by Babel in memory."""
    with (LOCALE / "zh" / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        catalog = read_po(source, locale="zh", domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return catalog, gettext.GNUTranslations(compiled)


def _message(entry: CatalogMessage) -> Message:
    ids = entry.id if isinstance(entry.id, tuple | list) else (entry.id, None)
    strings = entry.string if isinstance(entry.string, tuple | list) else (entry.string,)
    return Message(str(ids[0]), ids[1], str(strings[0]), str(entry.context or ""))


_CATALOG, _ZH = _catalogue()
_SOURCE = gettext.NullTranslations()  # English: the msgids themselves
_ENTRIES = [_message(entry) for entry in _CATALOG if entry.id]

GLOSSARY: dict[str, Message] = {
    m.context.removeprefix(GLOSSARY_CONTEXT): m
    for m in _ENTRIES
    if m.context.startswith(GLOSSARY_CONTEXT)
}
MESSAGES: dict[str, Message] = {
    m.context: m for m in _ENTRIES if not m.context.startswith(GLOSSARY_CONTEXT)
}


def term(key: str, lang: Lang, n: int = 1) -> str:
    """A glossary term, singular or plural."""
    return GLOSSARY[key].template(lang, n)
