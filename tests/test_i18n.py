"""The label catalogues: both languages say the same things, with the same blanks to fill."""

from __future__ import annotations

import string

from services.i18n import MESSAGES


def blanks(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogues_have_the_same_keys():
    assert set(MESSAGES["fr"]) - set(MESSAGES["en"]) == set()
    assert set(MESSAGES["en"]) - set(MESSAGES["fr"]) == set()


def test_a_label_has_the_same_blanks_in_both_languages():
    differing = {
        key: (blanks(text), blanks(MESSAGES["en"][key]))
        for key, text in MESSAGES["fr"].items()
        if key in MESSAGES["en"] and blanks(text) != blanks(MESSAGES["en"][key])
    }
    assert differing == {}
