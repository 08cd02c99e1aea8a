"""Runtime keeps provider instances (and so what they remember) while their settings stay."""

from __future__ import annotations

from dataclasses import replace

from aoa_proxy.config import load_settings
from aoa_proxy.runtime import Runtime

ENV = {"AOA_TYPE": "gemini", "GEMINI_API_KEY": "k", "GEMINI_MODEL": "gemini-2.5-flash"}


def test_same_provider_settings_keep_the_provider_instance() -> None:
    settings = load_settings(ENV)
    rt = Runtime(settings)
    gemini = rt.provider
    rt.apply(replace(settings, access_token="t", read_timeout=5.0))  # other settings changed
    assert rt.provider is gemini
    rt.switch("demo")
    assert rt.provider.name == "demo"
    rt.switch("gemini")  # away and back
    assert rt.provider is gemini


def test_new_provider_settings_make_a_new_provider() -> None:
    rt = Runtime(load_settings(ENV))
    gemini = rt.provider
    rt.apply(load_settings({**ENV, "GEMINI_MODEL": "gemini-2.5-pro"}))
    assert rt.provider is not gemini and rt.provider.settings.model == "gemini-2.5-pro"


def test_key_status_shows_the_last_4_characters_and_the_cool_down_left() -> None:
    now = [100.0]
    env = {"AOA_TYPE": "gemini", "GEMINI_API_KEY": "key-number-one-0001,key-number-two-0002"}
    rt = Runtime(load_settings(env), clock=lambda: now[0])
    rt.pools["gemini"].cool_down("key-number-one-0001", 30.0)
    now[0] += 10
    status = rt.key_status()["gemini"]
    assert [(s.key, s.cooling) for s in status] == [("****0001", 20.0), ("****0002", 0.0)]
    assert "key-number" not in repr(rt.key_status())


def test_key_pools_keep_their_cool_downs_across_settings_changes() -> None:
    env = {"AOA_TYPE": "gemini", "GEMINI_API_KEY": "key-number-one-0001,key-number-two-0002"}
    rt = Runtime(load_settings(env), clock=lambda: 0.0)
    rt.pools["gemini"].cool_down("key-number-one-0001", 30.0)
    rt.apply(load_settings({**env, "GEMINI_API_KEY": "key-number-one-0001,key-three-0003"}))
    status = {s.key: s.cooling for s in rt.key_status()["gemini"]}
    assert status == {"****0001": 30.0, "****0003": 0.0}
