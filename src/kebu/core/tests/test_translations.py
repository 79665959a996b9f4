"""The Chinese catalogue is complete, and the committed .mo is compiled from the committed .po."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES"


def _po_entries() -> list[dict[str, str]]:
    entries = []
    for block in LOCALE.joinpath("django.po").read_text(encoding="utf-8").split("\n\n"):
        entry: dict[str, str] = {"flags": ""}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] = line
            match = re.match(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[0\])?) "(.*)"$', line)
            if match:
                key = match.group(1)
                entry[key] = match.group(2)
            elif line.startswith('"') and key:
                entry[key] += line[1:-1]
        if entry.get("msgid"):
            entries.append(entry)
    return entries


def test_every_message_is_translated_and_none_is_fuzzy():
    entries = _po_entries()
    assert len(entries) > 300
    untranslated = [e["msgid"] for e in entries if not (e.get("msgstr") or e.get("msgstr[0]"))]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert untranslated == []
    assert fuzzy == []


def test_the_compiled_catalogue_matches_the_source():
    with LOCALE.joinpath("django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in _po_entries():
        msgid, wanted = _unescape(entry["msgid"]), _unescape(entry.get("msgstr") or entry["msgstr[0]"])
        if "msgctxt" in entry:
            got = compiled.pgettext(entry["msgctxt"], msgid)
        elif "msgid_plural" in entry:
            got = compiled.ngettext(msgid, _unescape(entry["msgid_plural"]), 1)
        else:
            got = compiled.gettext(msgid)
        assert got == wanted, f"{msgid!r}: django.mo is older than django.po; run `make messages`"


def _unescape(text: str) -> str:
    """A .po string literal's escapes (\\", \\n, \\\\) as the characters they stand for."""
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)
