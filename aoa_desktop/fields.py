"""The settings the desktop edits, as the provider catalogue (aoa_proxy.catalogue) describes them.

Which settings-page field stands for which environment variable(s), which providers have a key
in the keyring, how the tray and the page name providers and fields, and the check a value from
the page gets before load_settings sees it. A provider added to the catalogue reaches the tray,
the page and settings.json through here, with no edit in aoa_desktop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aoa_desktop.keys import ACCESS_TOKEN
from aoa_proxy.catalogue import CATALOGUE, Catalogue, Kind, ProviderEntry, Var
from aoa_proxy.i18n import N_, _

# How messages name a field ("Gemini, safety level: ..."); the page's own labels are in
# settings_web.page_strings. A field not listed here is called by its name.
_GATEWAY_FIELDS: Final = {
    "provider": N_("Default provider"),
    "enabled": N_("Enabled providers"),
    "host": N_("Bind address"),
    "port": N_("Port"),
    "language": N_("Language"),
}
_PROVIDER_FIELDS: Final = {
    "endpoint": N_("endpoint"),
    "model": N_("default model"),
    "aliases": N_("model aliases"),
    "proxy": N_("proxy"),
    "api_version": N_("API version"),
    "safety": N_("safety level"),
    "auth": N_("sign-in"),
    "scope": N_("Entra ID scope"),
    "tenant_id": N_("tenant id"),
    "client_id": N_("client id"),
    "client_secret": N_("client secret"),
}


class Fields:
    """The page/store fields of one catalogue: the shipped one, or one a test adds to."""

    def __init__(self, catalogue: Catalogue = CATALOGUE) -> None:
        self.catalogue = catalogue
        # Providers with an API key in the keyring (keyring entry = provider name).
        self.keyed: tuple[str, ...] = tuple(p.name for p in catalogue.providers if p.key_var)
        # Secrets beyond a provider's API key (Azure's client secret), one keyring entry each
        # ("azure.client_secret"): entry -> its environment variable.
        self.extra_secrets: dict[str, str] = {
            f"{p.name}.{v.field}": v.name for p in catalogue.providers for v in p.secrets[1:]
        }
        self.env_names: frozenset[str] = frozenset(v.name for v in catalogue.vars())
        self.token_var: str = catalogue.var("AOA_ACCESS_TOKEN").name
        # Page/store field -> its environment variable (provider, host, port, language).
        self.global_fields: dict[str, str] = {
            form: vs[0].name for form, vs in catalogue.gateway.form_fields().items()
        }
        # The default provider (AOA_TYPE) and the providers enabled with it (AOA_PROVIDERS).
        self.type_var: str = self.global_fields["provider"]
        self.enabled_var: str = self.global_fields["enabled"]

    def providers(self) -> list[tuple[str, str]]:
        """(name, label) of every provider in catalogue order, labels in the current language."""
        return [(p.name, _(p.label)) for p in self.catalogue.providers]

    def label(self, name: str) -> str:
        """How the tray and the page name a provider, in the current language."""
        try:
            return _(self.catalogue.provider(name).label)
        except KeyError:
            return name

    def provider_vars(self, name: str) -> dict[str, tuple[Var, ...]]:
        """Page/store field -> the variables it stands for ({} for an unknown provider)."""
        try:
            return self.catalogue.provider(name).form_fields()
        except KeyError:
            return {}

    def provider_fields(self, name: str) -> dict[str, tuple[str, ...]]:
        """Page/store field -> the environment variable(s) it stands for, for one provider."""
        return {form: tuple(v.name for v in vs) for form, vs in self.provider_vars(name).items()}

    def key_env_var(self, name: str) -> str:
        """The variable that sets this keyring entry's key ("" if the provider has none)."""
        if name == ACCESS_TOKEN:
            return self.token_var
        if name in self.extra_secrets:
            return self.extra_secrets[name]
        key = self.catalogue.provider(name).key_var
        return key.name if key else ""

    def env_label(self, var_name: str) -> str:
        """How messages name the field a variable fills; the variable's name if none does."""
        try:
            section, var = self.catalogue.section_of(var_name), self.catalogue.var(var_name)
        except KeyError:
            return var_name
        if var_name == self.token_var:
            return _("Access token")
        if section is self.catalogue.gateway:
            return _(_GATEWAY_FIELDS[var.form]) if var.form in _GATEWAY_FIELDS else var_name
        if not isinstance(section, ProviderEntry):
            return var_name
        if var.secret:
            return f"{self.label(section.name)}, " + self.short_label(var_name)
        if not var.form:
            return var_name
        return f"{self.label(section.name)}, {_(_PROVIDER_FIELDS.get(var.form, var.form))}"

    def short_label(self, var_name: str) -> str:
        """A provider's field without the provider's name ("API key", "endpoint")."""
        try:
            var = self.catalogue.var(var_name)
        except KeyError:
            return var_name
        if var.secret and var.field in _PROVIDER_FIELDS:  # a secret beyond the API key
            return _(_PROVIDER_FIELDS[var.field])
        if var.secret:
            return _("API key")
        if not var.form:
            return var_name
        return _(_PROVIDER_FIELDS.get(var.form, var.form))


def page_value(var: Var, value: object) -> tuple[object, str | None]:
    """A provider field's value from the page as it is stored, or the problem with it.

    `var` is the field's first variable (proxies: HTTP then SOCKS, both text).
    """
    if var.kind is Kind.ALIASES:
        if not isinstance(value, Mapping):
            return None, _("expected a table of requested model -> upstream model")
        for requested, upstream in value.items():
            problem = _check_alias_name(requested) or _check_alias_name(upstream)
            if problem:
                return None, problem
        return dict(value), None
    if not isinstance(value, str):
        return None, _("expected text")
    value = value.strip()
    if var.kind is Kind.CHOICE and value:
        listed = {c.lower(): c for c in var.choices}  # any case, stored as listed (as config)
        if value.lower() not in listed:
            return None, _("{value} is not one of {choices}").format(
                value=repr(value), choices=", ".join(var.choices)
            )
        value = listed[value.lower()]
    return value, None


def _check_alias_name(name: object) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return _("a model name is empty")
    if name != name.strip() or any(c in name for c in ",:"):
        return _("{name!r} may not contain commas, colons or surrounding spaces").format(name=name)
    return None


FIELDS: Final = Fields()
KEYED_PROVIDERS: Final = FIELDS.keyed
