"""Round-trip YAML for the tools that keep a list of models (llm, Continue): ruamel.yaml keeps
comments, order and unknown keys; aoa's entries are the ones whose id starts with "aoa"."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from aoa_desktop.connect.base import ConnectError, library
from aoa_proxy.i18n import _


def _yaml(top_list: bool = False) -> Any:
    yaml = library("ruamel.yaml").YAML()  # round-trip
    yaml.preserve_quotes = True
    # A list at the top (llm's file) starts at column 0; a nested one (Continue's `models:`)
    # is indented under its key, as both tools' docs write them.
    if top_list:
        yaml.indent(mapping=2, sequence=2, offset=0)
    else:
        yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def load(text: str | None, path: str) -> Any:
    if text is None or not text.strip():
        return None
    try:
        return _yaml().load(text)
    except library("ruamel.yaml.error").YAMLError as exc:
        # ruamel's own message quotes the offending lines, which may hold a key: name the
        # problem and the line only.
        mark = getattr(exc, "problem_mark", None)
        error = getattr(exc, "problem", None) or type(exc).__name__
        if mark is not None:
            error += f", line {mark.line + 1}"
        raise ConnectError(
            _("{path} is not valid YAML ({error}); fix or move it, then connect again.").format(
                path=path, error=error
            )
        ) from exc


def dump(data: Any) -> str:
    out = io.StringIO()
    _yaml(top_list=isinstance(data, list)).dump(data, out)
    return out.getvalue()


def new_map(data: Any = ()) -> Any:
    """An empty (or filled) mapping that keeps comments when dumped."""
    return library("ruamel.yaml.comments").CommentedMap(data)


def new_seq() -> Any:
    return library("ruamel.yaml.comments").CommentedSeq()


def merge(
    items: list[Any], wanted: Sequence[dict[str, Any]], ident: str, ours: Callable[[Any], bool]
) -> bool:
    """Make `items` hold exactly `wanted` among aoa's entries (matched on `ident`); the
    person's own entries keep their place. True if anything changed."""
    current = [dict(e) for e in items if isinstance(e, dict) and ours(e.get(ident))]
    if current == [dict(w) for w in wanted]:
        return False
    keep = [e for e in items if not (isinstance(e, dict) and ours(e.get(ident)))]
    items.clear()
    items.extend(keep)
    items.extend(new_map(w) for w in wanted)
    return True


def unmerge(items: list[Any], before: Any, ident: str, ours: Callable[[Any], bool]) -> None:
    """Drop aoa's entries from `items`; entries `before` held under the same ids come back."""
    keep = [e for e in items if not (isinstance(e, dict) and ours(e.get(ident)))]
    items.clear()
    items.extend(keep)
    if isinstance(before, list):
        items.extend(e for e in before if isinstance(e, dict) and ours(e.get(ident)))
