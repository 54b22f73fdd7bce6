"""Every label of the investigator pages, in Chinese (the default) and English.

Chosen by `?lang=` (remembered in the `lang` cookie), else by that cookie. A key missing in
either language is an error, not a silent fallback: tests render every page in both.

The labels are gettext catalogues, app/web/locale/<lang>/LC_MESSAGES/messages.po, read and
compiled by Babel. Their msgids are the labels' keys (`incident.tree_hidden`), as the
templates call them (`t('incident.tree_hidden', n=3)`); a label that counts has a
msgid_plural and takes ngettext's plural form for its `n` (Chinese has one form, English
two). Edit the .po files (or `pybabel` them), not this module.

Glossary: one word for each thing, on the pages, in the explanations (attribution.vocabulary,
whose GLOSSARY these agree with) and in the evidence bundle. tests/test_web_investigators.py
scans every Chinese message and template for the words on the right.

    thing                 中文          English                    never
    canary                诱饵运单      canary                     金丝雀
    control canary        对照运单      control canary
    link                  环节          link
    region (link kind)    大区          region                     区域
    vendor (link kind)    面单软件商    printing-software vendor   软件服务商
    call centre           客服中心      call centre                呼叫中心
    listing (for sale)    数据交易帖    listing                    清单, 挂牌
    leaked file           泄露文件      leaked file
    sighting              发现          sighting
    manifest (bundle)     manifest.json manifest                   清单
"""

import gettext
import io
from collections.abc import Callable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Request

DEFAULT_LANGUAGE = "zh"
LANG_COOKIE = "lang"

Translator = Callable[..., str]

LOCALE = Path(__file__).parent / "locale"
DOMAIN = "messages"


def _compiled(lang: str) -> tuple[Catalog, gettext.GNUTranslations]:
    """The language's .po catalogue, read and compiled to .mo by Babel in memory (a few
    milliseconds at start-up: no compiled file to fall out of date with its source)."""
    with (LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        catalog = read_po(source, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return catalog, gettext.GNUTranslations(compiled)


_CATALOGUES = {lang: _compiled(lang) for lang in (DEFAULT_LANGUAGE, "en")}
_TRANSLATIONS = {lang: compiled for lang, (_, compiled) in _CATALOGUES.items()}


def _singular(message: Message) -> str:
    text = message.string
    return text[0] if isinstance(text, tuple | list) else str(text)


# Every label by language (its singular form), as the catalogues hold them.
MESSAGES: dict[str, dict[str, str]] = {
    lang: {str(m.id[0] if m.pluralizable else m.id): _singular(m) for m in catalog if m.id}
    for lang, (catalog, _) in _CATALOGUES.items()
}
# The labels that count (`n=`), which take ngettext's plural forms.
PLURALS: frozenset[str] = frozenset(
    str(m.id[0]) for m in _CATALOGUES["en"][0] if m.id and m.pluralizable
)
LANGUAGES = tuple(MESSAGES)


def requested_language(request: Request) -> str | None:
    """The language asked for in this request's `?lang=`, if it is one we speak."""
    asked = request.query_params.get("lang")
    return asked if asked in MESSAGES else None


def language(request: Request) -> str:
    remembered = request.cookies.get(LANG_COOKIE, DEFAULT_LANGUAGE)
    if remembered not in MESSAGES:
        remembered = DEFAULT_LANGUAGE
    return requested_language(request) or remembered


def translator(lang: str) -> Translator:
    messages, translations = MESSAGES[lang], _TRANSLATIONS[lang]

    def translate(key: str, **values: object) -> str:
        if key not in messages:  # never the key itself, as gettext would give
            raise KeyError(f"no label {key!r} in {lang}")
        count = values.get("n")
        if key in PLURALS and isinstance(count, int):
            text = translations.ngettext(key, key, count)
        else:
            text = translations.gettext(key)
        return text.format(**values) if values else text

    return translate
