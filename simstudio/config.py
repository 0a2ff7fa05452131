"""Config dataclasses <-> JSON, with clear messages for unknown or mistyped fields."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def config_to_dict(config: Any) -> dict:
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"expected a config dataclass, got {type(config).__name__}")
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def coerce_config(cls: type[T], config) -> T:
    """`config` itself when it is a `cls` already, else `cls` built from its dict (a job's saved config)."""
    return config if isinstance(config, cls) else config_from_dict(cls, dict(config))


def config_from_dict(cls: type[T], data: dict) -> T:
    """Build `cls` from a dict, naming any field the config does not have."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(names))}")
    return cls(**data)


def load_config(cls: type[T], path: str | Path) -> T:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"config file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"config file {path} is not valid JSON: {exc}") from None
    return config_from_dict(cls, data)
