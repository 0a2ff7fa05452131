"""Mapping the diagnoses of a source onto the classes of a task (e.g. melanoma vs benign = NV + BKL + ...).

A map is text, one target class per line, so it reads the same in a file, the CLI and the UI:

    malignant: MEL, BCC, SCC
    benign: *            <- every source class not named on another line
    drop: UNK            <- left out of the dataset

JSON works too: {"malignant": ["MEL", "BCC"], "benign": "*"} or {"MEL": "malignant", ...} (source ->
target), and two-column CSV lines `source,target`. Source classes are matched case-insensitively. Without a
`*` line, source classes the map does not name are dropped and counted as such.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

DROP = "drop"
REST = "*"


def load_class_map(text_or_path: str) -> dict[str, str]:
    """Parse a map from its text, or from a file when `text_or_path` names one. {} for empty text."""
    text = (text_or_path or "").strip()
    if text and "\n" not in text and not text.startswith("{") and len(text) < 4096:
        p = Path(text).expanduser()
        if p.is_file():
            return parse_class_map(p.read_text(encoding="utf-8"))
        if p.suffix.lower() in (".json", ".txt", ".csv", ".map") and ":" not in text:
            raise FileNotFoundError(f"no such class-map file: {text}")
    return parse_class_map(text)


def parse_class_map(text: str) -> dict[str, str]:
    """{source class (lower case) or '*': target class or 'drop'}."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        return _from_json(text)
    mapping: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if ":" in line:
            target, _, sources = line.partition(":")
            names = [s.strip() for s in sources.replace(";", ",").replace("+", ",").split(",") if s.strip()]
            pairs = [(s, target.strip()) for s in names]
        elif "->" in line or "," in line:
            source, _, target = line.partition("->") if "->" in line else line.partition(",")
            pairs = [(source.strip(), target.strip())]
        else:
            raise ValueError(f"class map line {n} {raw.strip()!r}: write 'target: source1, source2' "
                             f"or 'source,target'")
        for source, target in pairs:
            if not source or not target:
                raise ValueError(f"class map line {n} {raw.strip()!r} has an empty class name")
            _add(mapping, source, target, n)
    if mapping.get("source") == "target":  # a CSV header line, not a mapping
        del mapping["source"]
    return mapping


def apply_class_map(labels: list[str], mapping: dict[str, str]) -> list[str | None]:
    """Each source label's target class, or None when dropped. An empty map keeps every label."""
    if not mapping:
        return list(labels)
    rest = mapping.get(REST)
    out: list[str | None] = []
    for label in labels:
        target = mapping.get(label.lower(), rest)
        out.append(None if target is None or target.lower() == DROP else target)
    return out


def check_class_map(source_counts: dict[str, int], mapping: dict[str, str]) -> None:
    """Clear errors for a map that names classes the source lacks or leaves a target class empty."""
    if not mapping:
        return
    known = {c.lower() for c in source_counts}
    unknown = sorted(s for s in mapping if s != REST and s not in known)
    if unknown:
        raise ValueError(f"class map names source class(es) {', '.join(unknown)} that the data does not "
                         f"have; it has {', '.join(sorted(source_counts))}")
    after = mapped_counts(source_counts, mapping)
    if not after:
        raise ValueError("the class map drops every image")


def mapped_counts(source_counts: dict[str, int], mapping: dict[str, str]) -> dict[str, int]:
    """Counts per target class after the map (dropped images are not counted)."""
    targets = apply_class_map(list(source_counts), mapping)
    out: Counter = Counter()
    for (_, n), t in zip(source_counts.items(), targets, strict=True):
        if t is not None:
            out[t] += n
    return dict(sorted(out.items()))


# -- private helpers ----------------------------------------------------------------------------------

def _from_json(text: str) -> dict[str, str]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"class map is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError("a JSON class map is an object: {target: [sources]} or {source: target}")
    mapping: dict[str, str] = {}
    for key, value in obj.items():
        if isinstance(value, list):  # target -> [sources]
            for source in value:
                _add(mapping, str(source), str(key), 0)
        elif value == REST:  # target -> "*"
            _add(mapping, REST, str(key), 0)
        elif isinstance(value, str):  # source -> target
            _add(mapping, str(key), value, 0)
        else:
            raise ValueError(f"class map entry {key!r}: expected a class name or a list, got {value!r}")
    return mapping


def _add(mapping: dict[str, str], source: str, target: str, line: int) -> None:
    key = source.strip().lower() if source.strip() != REST else REST
    if key in mapping and mapping[key] != target:
        where = f" (line {line})" if line else ""
        raise ValueError(f"class map sends {source!r} to both {mapping[key]!r} and {target!r}{where}")
    mapping[key] = target.strip()
