"""CSV cells a spreadsheet will not run as formulas.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel and
others as a formula (`=HYPERLINK(...)` exfiltrates, `=cmd|...` executes), so every CSV
honeytrace writes passes its text cells through `spreadsheet_safe`, which prefixes them with
an apostrophe as OWASP advises. Numbers are left alone.
"""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
