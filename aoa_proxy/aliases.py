"""Model alias lists: "gpt-4:my-deploy, gpt-3.5-turbo:gpt-35" -> {"gpt-4": "my-deploy", ...}.

One alias is `requested:targets`. Plain names mean what they always meant. Two additions:
- a `*` in the requested name makes it a glob (`claude-*-haiku*:gemini-2.5-flash`); `*` is the
  only wildcard, every other character is literal;
- the targets may be an ordered failover chain separated by `|`
  (`gpt-4o:my-gpt4o|gemini/gemini-2.5-pro`); each target is a model name, or `provider/model`
  to send it to another enabled provider (resolved by aoa_proxy.routing, which knows which
  providers are enabled).
The raw mapping (what parse_aliases returns) stays the stored form; compile_aliases splits it
into exact names and precompiled globs once, for the router.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aoa_proxy.i18n import _

WILDCARD = "*"
CHAIN_SEPARATOR = "|"


def parse_aliases(text: str) -> dict[str, str]:
    """Parse an alias list; raise ValueError naming the first malformed piece.

    Same syntax as the original (comma-separated `requested:upstream` pairs) but spaces around
    names are ignored and a malformed piece is an error instead of being skipped silently.
    Globs and failover chains are checked here too (see check_alias).
    """
    aliases: dict[str, str] = {}
    for piece in text.split(","):
        if not piece.strip():
            continue
        parts = [p.strip() for p in piece.split(":")]
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError(
                _("{value} is not of the form requested:upstream").format(value=repr(piece.strip()))
            )
        check_alias(parts[0], parts[1])
        aliases[parts[0]] = parts[1]
    return aliases


def format_aliases(aliases: Mapping[str, str]) -> str:
    """The inverse of parse_aliases, for showing and storing."""
    return ",".join(f"{k}:{v}" for k, v in aliases.items())


def check_alias(requested: str, targets: str) -> None:
    """Raise ValueError naming the piece if `requested` is a bad glob or `targets` a bad chain."""
    if WILDCARD in requested:
        _check_glob(requested)
    parse_chain(targets)


def _check_glob(pattern: str) -> None:
    if not pattern.strip(WILDCARD):
        raise ValueError(
            _(
                "{value} matches every model; choose the provider for all other models "
                "with AOA_TYPE instead"
            ).format(value=repr(pattern))
        )
    if WILDCARD * 2 in pattern:
        raise ValueError(
            _("{value}: write one * where any text may appear, not **").format(value=repr(pattern))
        )


def parse_chain(targets: str) -> tuple[str, ...]:
    """`a|gemini/b` -> ("a", "gemini/b"); raise ValueError naming the malformed target."""
    chain = tuple(t.strip() for t in targets.split(CHAIN_SEPARATOR))
    seen: set[str] = set()
    for target in chain:
        if not target:
            raise ValueError(
                _("{value} has an empty target: put a model name between each |").format(
                    value=repr(targets)
                )
            )
        if WILDCARD in target:
            raise ValueError(
                _(
                    "{value}: a target is one model name; * is allowed only in the requested name"
                ).format(value=repr(target))
            )
        if target.endswith("/"):
            raise ValueError(_("{value} names no model after the /").format(value=repr(target)))
        if target in seen:
            raise ValueError(
                _("{value} is listed twice in {chain}").format(
                    value=repr(target), chain=repr(targets)
                )
            )
        seen.add(target)
    return chain


@dataclass(frozen=True, slots=True)
class Glob:
    """A `*` pattern split once into its literal pieces; matching never compiles anything."""

    pattern: str
    head: str
    middle: tuple[str, ...]
    tail: str

    @classmethod
    def compile(cls, pattern: str) -> Glob:
        if WILDCARD not in pattern:
            raise ValueError(f"{pattern!r} has no {WILDCARD}: it is an exact name, not a glob")
        _check_glob(pattern)
        pieces = pattern.split(WILDCARD)
        return cls(pattern, pieces[0], tuple(p for p in pieces[1:-1] if p), pieces[-1])

    def matches(self, name: str) -> bool:
        """Whole-name match: `*` stands for any text, including none.

        Linear in the name for each middle piece (leftmost search is always right for `*`-only
        globs), so a long hostile model name cannot make it backtrack.
        """
        if len(name) < len(self.head) + len(self.tail):
            return False
        if not (name.startswith(self.head) and name.endswith(self.tail)):
            return False
        pos, end = len(self.head), len(name) - len(self.tail)
        for piece in self.middle:
            found = name.find(piece, pos, end)
            if found < 0:
                return False
            pos = found + len(piece)
        return True


@dataclass(frozen=True, slots=True)
class AliasTable:
    """One provider's aliases: exact names (dict) and globs, each with its raw target chain."""

    exact: Mapping[str, tuple[str, ...]]
    globs: tuple[tuple[Glob, tuple[str, ...]], ...]


def compile_aliases(aliases: Mapping[str, str]) -> AliasTable:
    """Split a raw alias mapping into exact names and compiled globs (definition order kept)."""
    exact: dict[str, tuple[str, ...]] = {}
    globs: list[tuple[Glob, tuple[str, ...]]] = []
    for requested, targets in aliases.items():
        chain = parse_chain(targets)
        if WILDCARD in requested:
            globs.append((Glob.compile(requested), chain))
        else:
            exact[requested] = chain
    return AliasTable(exact, tuple(globs))
