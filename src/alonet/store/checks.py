"""Checks of what a user types for the store: record ids, patient codes (and whether one looks
like a name or a date of birth) and dates. Each returns the cleaned value or raises
InvalidValueError saying what to type instead."""

from __future__ import annotations

import datetime as _dt
import re

from alonet.errors import InvalidValueError

#: Largest id SQLite can hold (its INTEGER is 64-bit signed); ids start at 1.
MAX_ID = 2**63 - 1


def parse_id(text: str | None) -> int | None:
    """A record id typed in a form ("12"), or None when it is not one (empty, text, 0, too large)."""
    try:
        value = int((text or "").strip())
    except ValueError:
        return None
    return value if 1 <= value <= MAX_ID else None


_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def check_patient_code(code: str) -> str:
    """Return the trimmed patient code or raise: 1-64 letters, digits, space . _ -."""
    text = (code or "").strip()
    if not _CODE_RE.match(text):
        raise InvalidValueError(
            f"patient code {text[:70]!r} is not valid",
            fix="use 1-64 letters, digits, spaces, dots, dashes or underscores "
            "(a pseudonymous study code, not a name)",
        )
    return text


#: A date in a patient code (a date of birth?): 1961-04-02, 1961.4.2, 02.04.1961, 02_04_1961,
#: 02.04.61 (a four-digit year 19xx/20xx with day and month in range, separated by - . _ or a
#: space; a two-digit year only between dots, so that number triplets such as AA-01-02-03 pass).
#: The same pattern runs in the page (``static/common.js``), which takes it from the template.
CODE_DATE_PATTERN = (r"(?:^|[^0-9])(?:(?:19|20)[0-9]{2}[-._ ](?:0?[1-9]|1[0-2])[-._ ](?:0?[1-9]|[12][0-9]|3[01])"
                     r"|(?:0?[1-9]|[12][0-9]|3[01])[-._ ](?:0?[1-9]|[12][0-9]|3[01])[-._ ](?:19|20)[0-9]{2}"
                     r"|(?:0?[1-9]|[12][0-9]|3[01])\.(?:0?[1-9]|1[0-2])\.[0-9]{2})(?:$|[^0-9])")
#: Words that study codes use and names do not: they never count as name words.
CODE_STUDY_WORDS = ("site", "patient", "subject", "study", "center", "centre", "clinic", "hospital", "visit",
                    "arm", "group", "cohort", "case", "control", "trial", "baseline", "screening", "week",
                    "month", "day", "pilot", "phase", "part")
_CODE_DATE_RE = re.compile(CODE_DATE_PATTERN)
#: A word of a name: a capital and at least one more letter (``Erika``, ``PATNAME``).
_NAME_WORD_RE = re.compile(r"[A-Z][A-Za-z]+")
#: The form field by which the user says that a flagged code is pseudonymous after all.
CODE_CONFIRM_FIELD = "code_is_pseudonymous"


def identifying_code_reason(code: str) -> str | None:
    """Why a patient code looks like it identifies the patient, or None: it holds a date (a date of
    birth?), or two or more capitalised words of letters, at least one with lower case (``Erika
    Mustermann``, ``Schmidt_Hans``, ``PATNAME Weber``; not ``AA-SECRET-7``, ``AA 002`` or ``Site A
    Patient 3``: :data:`CODE_STUDY_WORDS` do not count). A
    heuristic: it catches the usual ways names and birth dates are typed, not every one."""
    text = (code or "").strip()
    if _CODE_DATE_RE.search(text):
        return "holds a date (a date of birth?)"
    words = [w for w in re.split(r"[ ._-]+", text)
             if _NAME_WORD_RE.fullmatch(w) and w.lower() not in CODE_STUDY_WORDS]
    if len(words) >= 2 and any(any(c.islower() for c in w) for w in words):
        return "looks like a name (two or more capitalised words)"
    return None


def check_new_patient_code(code: str, confirmed: bool) -> str:
    """:func:`check_patient_code` for a patient the web app is about to create: a code that looks
    like a name or holds a date (:func:`identifying_code_reason`) is refused unless the user ticked
    that it is pseudonymous (``confirmed``). Existing patients are never checked again."""
    text = check_patient_code(code)
    reason = identifying_code_reason(text)
    if reason is not None and not confirmed:
        raise InvalidValueError(
            f"patient code {text!r} {reason}; the store, its exports and adapted models keep patient codes, "
            "so use a pseudonymous study code such as AA-017",
            fix="if this code is pseudonymous all the same, tick \"this code is pseudonymous\" beside it and "
                "send the form again")
    return text


def check_date(value: str | None, what: str = "visit date") -> str | None:
    """An ISO date (YYYY-MM-DD) typed in a form, or None when empty; refuses text and future dates.

    A day of slack covers a clinic whose clock is ahead of the server's.
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        date = _dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidValueError(f"{what} {text[:30]!r} is not a date", fix="use YYYY-MM-DD") from None
    if date > _dt.date.today() + _dt.timedelta(days=1):
        raise InvalidValueError(f"{what} {date.isoformat()} is in the future", fix="give the day it happened")
    return date.isoformat()


def check_visit_date(value: str | None) -> str:
    """Return an ISO date (YYYY-MM-DD); empty means today (see :func:`check_date`)."""
    return check_date(value) or _dt.date.today().isoformat()
