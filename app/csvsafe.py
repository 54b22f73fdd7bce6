"""CSV cells a spreadsheet will not run as formulas.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel and
others as a formula (`=HYPERLINK(...)` exfiltrates, `=cmd|...` executes), so every CSV
honeytrace writes passes its text cells through `spreadsheet_safe`, which prefixes them with
an apostrophe as OWASP advises. Numbers are left alone; booleans are written `true`/`false`
as JSON and every other language spells them, not Python's `True`/`False`.

Files a person opens start with a UTF-8 byte-order mark (`UTF8_BOM`): without it Excel reads
UTF-8 as the local code page and shows Chinese as mojibake.
"""

UTF8_BOM = "\ufeff"

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
