"""Move labels still written in a Python dict into the gettext catalogues (locales/*/messages.po).

The catalogue used to be a dict, ``MESSAGES = {"fr": {key: text}, "en": {key: text}}``, in
services/i18n.py. A branch written before the move may still add labels there: after merging it,
run

    python tools/dict_to_po.py services/i18n.py

to copy each of its labels into locales/fr/LC_MESSAGES/messages.po and
locales/en/LC_MESSAGES/messages.po (the key is the msgid, the text the msgstr), then delete the
dict. A label already in a catalogue keeps its catalogue text unless ``--overwrite`` is given.
The file is read, never imported (only its ``MESSAGES = {...}`` literal).
Afterwards, `python tools/catalogues.py check` says whether code and catalogues agree.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"


def read_dict(path: Path) -> dict[str, dict[str, str]]:
    """The ``MESSAGES`` literal of ``path``: language → key → text."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(target, ast.Name) and target.id == "MESSAGES" for target in targets):
            return ast.literal_eval(node.value)
    raise SystemExit(f"{path}: no MESSAGES = {{...}} dict found")


def catalogue_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / "messages.po"


def load(language: str) -> Catalog:
    path = catalogue_path(language)
    if path.exists():
        with path.open("rb") as file:
            return read_po(file, locale=language)
    return Catalog(locale=language, project="Rencontres", fuzzy=False)


def save(catalogue: Catalog, language: str) -> None:
    path = catalogue_path(language)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalogue, width=100, sort_output=True)


def convert(messages: dict[str, dict[str, str]], overwrite: bool = False) -> dict[str, int]:
    """Copies the dict's labels into the catalogues; returns how many were added per language."""
    added = {}
    for language, texts in messages.items():
        catalogue = load(language)
        count = 0
        for key, text in texts.items():
            present = catalogue.get(key)
            if present is not None and not overwrite:
                continue
            if present is not None and present.pluralizable:
                print(
                    f"{language}: {key} is a plural message in the catalogue, left as it is", file=sys.stderr
                )
                continue
            catalogue.add(key, text)
            count += 1
        save(catalogue, language)
        added[language] = count
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a Python file holding MESSAGES = {...}")
    parser.add_argument("--overwrite", action="store_true", help="replace the catalogue's text of a key")
    args = parser.parse_args()
    for language, count in convert(read_dict(args.source), args.overwrite).items():
        print(f"{language}: {count} label(s) added to {catalogue_path(language).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
