"""Keep the gettext catalogues (locales/*/LC_MESSAGES/messages.po) in step with the code.

    python tools/catalogues.py update   # extract the labels (pybabel extract), merge them in
    python tools/catalogues.py check    # what tests/test_i18n.py checks, as a list

`update` runs Babel's `pybabel extract` over the code (babel.cfg) into locales/messages.pot,
then `pybabel update` on both languages: a new label gets an empty entry to translate, a label
the code no longer uses is dropped. The application compiles the .po files itself when it
loads them (services/i18n.py): nothing else to build. docs/translations.md says the rest.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
TEMPLATE = LOCALES / "messages.pot"
LANGUAGES = ("fr", "en")
#: The functions whose first argument is a label key: the page helpers t() and tn(), the
#: services' translate() and translate_plural() (key used as both msgid and msgid_plural), and
#: the N_() marker of keys picked at run time (services/app/labels.py).
KEYWORDS = {"t": None, "translate": None, "N_": None, "tn": (1, 1), "translate_plural": (1, 1)}


def keyword_options() -> list[str]:
    options = ["--no-default-keywords"]
    for name, spec in KEYWORDS.items():
        options += ["-k", name if spec is None else f"{name}:{','.join(map(str, spec))}"]
    return options


def extracted() -> dict[str, bool]:
    """Each label key the code uses → whether it is a plural message."""
    with (ROOT / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)
    found: dict[str, bool] = {}
    for _, _, message, _, _ in extract_from_dir(ROOT, method_map, options_map, keywords=KEYWORDS):
        key = message if isinstance(message, str) else message[0]
        found[key] = found.get(key, False) or not isinstance(message, str)
    return found


def problems() -> list[str]:
    """Missing translations, labels the code does not use, singular/plural mismatches."""
    used = extracted()
    found = []
    for language in LANGUAGES:
        path = LOCALES / language / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as file:
            catalogue = read_po(file, locale=language)
        held = {}
        for message in catalogue:
            if not message.id:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            held[key] = message
            texts = message.string if isinstance(message.string, tuple) else (message.string,)
            if key not in used:
                found.append(f"{language}: {key} is in the catalogue but no code uses it")
            elif not all(texts) or message.fuzzy:
                found.append(f"{language}: {key} has no translation" + (" (fuzzy)" if message.fuzzy else ""))
            elif used[key] != message.pluralizable:
                found.append(f"{language}: {key} is {'' if used[key] else 'not '}a plural in the code")
        found += [f"{language}: {key} has no entry" for key in sorted(set(used) - set(held))]
    return found


def update() -> None:
    subprocess.run(
        [
            "pybabel",
            "extract",
            "-F",
            "babel.cfg",
            *keyword_options(),
            "--sort-output",
            "--no-location",
            "-o",
            str(TEMPLATE),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    for language in LANGUAGES:
        subprocess.run(
            ["pybabel", "update", "-i", str(TEMPLATE), "-d", str(LOCALES), "-l", language]
            + ["--no-fuzzy-matching", "--ignore-obsolete", "--width", "100"],
            cwd=ROOT,
            check=True,
        )


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "update":
        update()
    elif command == "check":
        listed = problems()
        print("\n".join(listed) or "catalogues and code agree")
        sys.exit(1 if listed else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
