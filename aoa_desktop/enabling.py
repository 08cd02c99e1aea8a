"""Which providers the desktop serves at once (issue 14): the "Enabled" switches and AOA_PROVIDERS.

The switches are stored as the text of AOA_PROVIDERS. The default provider (AOA_TYPE) is always
enabled and listed first, so it wins a model name two providers list. Headless, an enabled
provider that is not configured stops the start (exit 2); the desktop leaves it out of the
running gateway instead (`serving`) and says what it still needs (`not_serving`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aoa_desktop.fields import Fields
from aoa_proxy.config import Settings, load_settings, unconfigured
from aoa_proxy.errors import ConfigError
from aoa_proxy.i18n import _
from aoa_proxy.providers import REGISTRY
from aoa_proxy.routing import parse_provider_list


def default_first(enabled: str, default: str, names: Sequence[str]) -> str:
    """Stored switches as AOA_PROVIDERS: `default` first, then the others as stored."""
    listed = [n.strip().lower() for n in enabled.split(",") if n.strip()]
    default = default.strip().lower()
    if default in names:
        listed = [default, *(n for n in listed if n != default)]
    return ",".join(listed)


def wanted(enabled: str, default: str, names: Sequence[str]) -> tuple[str, ...]:
    """The providers switched on, serving or not: `default` first; () for a bad list (the
    load says why, and the gateway then serves the default alone)."""
    try:
        listed = parse_provider_list(enabled, names)
    except ValueError:
        listed = ()
    return (default, *(n for n in listed if n != default))


def serving(env: Mapping[str, str], fields: Fields) -> Mapping[str, str]:
    """`env` with AOA_PROVIDERS naming only the enabled providers that can serve."""
    var, catalogue = fields.enabled_var, fields.catalogue
    try:
        names = parse_provider_list(env.get(var, ""), catalogue.names)
    except ValueError:
        return env  # load_settings names the problem
    if not names:
        return env
    rest = {k: v for k, v in env.items() if k != var}
    try:
        probe = load_settings(rest, catalogue)
    except ConfigError:
        return env  # other problems: load_settings reports them all
    default = probe.provider if rest.get(fields.type_var, "").strip() else names[0]

    def serves(name: str) -> bool:
        entry, ps = catalogue.provider(name), probe.provider_settings(name)
        return name in REGISTRY and not unconfigured(entry, ps, default=False)

    return {**rest, var: ",".join(n for n in names if n == default or serves(n))}


def not_serving(names: Sequence[str], settings: Settings, fields: Fields) -> dict[str, str]:
    """Provider -> why it is switched on but left out of the gateway, in the page's words."""
    out: dict[str, str] = {}
    for name in names:
        if name in settings.enabled:
            continue
        label = fields.label(name)
        if name not in REGISTRY:
            out[name] = _("{label} is not available in this version of aoa").format(label=label)
            continue
        entry = fields.catalogue.provider(name)
        missing = unconfigured(entry, settings.provider_settings(name), default=False)
        words = ", ".join(fields.short_label(v) for v in missing)
        if entry.key_var is not None and entry.key_var.name in missing:
            out[name] = _(
                "{label} is enabled but not configured, so it serves no requests: set its "
                "{fields} (each enabled provider except the default one needs an API key "
                "of its own)"
            ).format(label=label, fields=words)
        elif missing:
            out[name] = _(
                "{label} is enabled but not configured, so it serves no requests: set its {fields}"
            ).format(label=label, fields=words)
    return out
