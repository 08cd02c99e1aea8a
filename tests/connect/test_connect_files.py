"""Connect and Disconnect on real files: comments and unknown keys kept, backups made, modes
kept, idempotent, and Disconnect leaving the file byte for byte as it was."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

from aoa_desktop.connect import TOOLS, ConnectError, Connections, Context
from tests.connect.samples import SAMPLES

TOKEN = "local-access-token-9f3e"


def make_ctx(home: Path, token: str = TOKEN, port: int = 8080) -> Context:
    return Context(
        base_url=f"http://127.0.0.1:{port}",
        token=token,
        model="gpt-5-codex",
        models=("gpt-4", "gemini/gemini-2.5-pro"),
        tiers={"opus": "big", "sonnet": "gpt-5-codex", "haiku": "small"},
        home=home,
        env={"PATH": ""},
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.fixture
def conns(tmp_path: Path) -> Connections:
    return Connections(tmp_path / "aoa", TOOLS)


def put(path: Path, text: str, mode: int = 0o640) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".aoa-backup-*"))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_disconnect_restores_the_file_byte_for_byte(
    name: str, home: Path, conns: Connections
) -> None:
    ctx = make_ctx(home)
    path = TOOLS[name].path(ctx)
    put(path, SAMPLES[name])
    original = path.read_bytes()
    assert conns.connect(name, ctx)["changed"]
    assert path.read_bytes() != original
    assert conns.status(name, ctx)["connected"]
    conns.disconnect(name, ctx)
    assert path.read_bytes() == original
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not conns.status(name, ctx)["connected"]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_connect_keeps_mode_and_makes_a_timestamped_backup(
    name: str, home: Path, conns: Connections
) -> None:
    ctx = make_ctx(home)
    path = TOOLS[name].path(ctx)
    put(path, SAMPLES[name], 0o640)
    result = conns.connect(name, ctx)
    [backup] = backups(path)
    assert result["backup"] == str(backup)
    assert backup.read_text() == SAMPLES[name]
    assert stat.S_IMODE(backup.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_connecting_twice_changes_nothing(name: str, home: Path, conns: Connections) -> None:
    ctx = make_ctx(home)
    path = TOOLS[name].path(ctx)
    put(path, SAMPLES[name])
    conns.connect(name, ctx)
    once = path.read_bytes()
    assert conns.connect(name, ctx) == {"changed": False, "backup": None}
    assert path.read_bytes() == once
    assert len(backups(path)) == 1
    assert not conns.preview(name, ctx)["change"]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_new_file_is_private_and_disconnect_removes_it(
    name: str, home: Path, conns: Connections
) -> None:
    ctx = make_ctx(home)
    path = TOOLS[name].path(ctx)
    conns.connect(name, ctx)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the access token
    assert backups(path) == []
    conns.disconnect(name, ctx)
    assert not path.exists()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_disconnect_after_the_person_edited_keeps_their_edit(
    name: str, home: Path, conns: Connections
) -> None:
    ctx = make_ctx(home)
    path = TOOLS[name].path(ctx)
    put(path, SAMPLES[name])
    conns.connect(name, ctx)
    edited = path.read_text().replace("kept", "kept-later").replace("dark", "light")
    edited = edited.replace('approval_policy = "on-request"', 'approval_policy = "never"')
    edited = edited.replace("Be brief", "Be very brief")
    assert edited != path.read_text()
    path.write_text(edited)
    conns.disconnect(name, ctx)
    after = path.read_text()
    assert TOOLS[name].apply(after, ctx) != after  # aoa's settings are gone
    assert any(w in after for w in ("kept-later", "light", '"never"', "Be very brief"))
    assert "127.0.0.1:8080" not in after
    assert TOKEN not in after


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_reconnect_after_a_port_change_updates_and_disconnect_still_restores(
    name: str, home: Path, conns: Connections
) -> None:
    ctx = make_ctx(home)
    path = TOOLS[name].path(ctx)
    put(path, SAMPLES[name])
    original = path.read_bytes()
    conns.connect(name, ctx)
    moved = make_ctx(home, port=9191)
    assert conns.status(name, moved)["outdated"]
    conns.connect(name, moved)
    assert "127.0.0.1:9191" in path.read_text() and "127.0.0.1:8080" not in path.read_text()
    conns.disconnect(name, moved)
    assert path.read_bytes() == original


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_preview_shows_the_change_with_the_token_masked(
    name: str, home: Path, conns: Connections
) -> None:
    ctx = make_ctx(home)
    path = TOOLS[name].path(ctx)
    put(path, SAMPLES[name])
    preview = conns.preview(name, ctx)
    assert preview["change"]
    assert TOKEN not in preview["diff"]
    assert "****9f3e" in preview["diff"]
    assert "+" in preview["diff"] and "127.0.0.1:8080" in preview["diff"]
    assert "real-upstream-key" not in preview["diff"]  # Claude's own key, set aside: masked
    assert path.read_text() == SAMPLES[name]  # a preview writes nothing


def test_preview_masks_other_secrets_near_the_change(home: Path, conns: Connections) -> None:
    ctx = make_ctx(home)
    path = TOOLS["codex"].path(ctx)
    put(path, 'model = "o3"\n[model_providers.x]\nexperimental_bearer_token = "sk-other-1234"\n')
    shown = conns.preview("codex", ctx)["diff"]
    assert "sk-other-1234" not in shown
    assert 'experimental_bearer_token = "****1234"' in shown


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_broken_file_is_left_alone(name: str, home: Path, conns: Connections) -> None:
    ctx = make_ctx(home)
    path = TOOLS[name].path(ctx)
    broken = {"codex": "model = [unclosed\n", "claude-code": '{"env": {', "llm": "- a: [\n"}
    put(path, broken.get(name, "models: [\n"))
    with pytest.raises(ConnectError, match=str(path)):
        conns.connect(name, ctx)
    assert path.read_text() == broken.get(name, "models: [\n")
    assert backups(path) == []
    assert conns.status(name, ctx)["problem"]


def test_codex_keeps_comments_unknown_keys_and_other_providers(
    home: Path, conns: Connections
) -> None:
    ctx = make_ctx(home)
    path = TOOLS["codex"].path(ctx)
    put(path, SAMPLES["codex"])
    conns.connect("codex", ctx)
    text = path.read_text()
    for line in SAMPLES["codex"].splitlines():
        if "model = " not in line:
            assert line in text
    data = tomllib.loads(text)
    assert data["model"] == "gpt-5-codex" and data["model_provider"] == "aoa"
    assert data["model_providers"]["aoa"] == {
        "name": "aoa",
        "base_url": "http://127.0.0.1:8080/v1",
        "wire_api": "responses",
        "experimental_bearer_token": TOKEN,
    }
    assert data["model_providers"]["ollama"]["base_url"] == "http://localhost:11434/v1"
    assert data["mcp_servers"]["docs"]["args"] == ["--port", "9000"]


def test_codex_existing_aoa_block_comes_back_on_disconnect(home: Path, conns: Connections) -> None:
    ctx = make_ctx(home)
    path = TOOLS["codex"].path(ctx)
    mine = SAMPLES["codex"] + '\n[model_providers.aoa]\nname = "old"\nbase_url = "http://x/v1"\n'
    put(path, mine)
    conns.connect("codex", ctx)
    assert tomllib.loads(path.read_text())["model_providers"]["aoa"]["name"] == "aoa"
    # The person's later edit: the file can no longer be restored byte for byte.
    path.write_text(path.read_text().replace("notifications = true", "notifications = false"))
    conns.disconnect("codex", ctx)
    data = tomllib.loads(path.read_text())
    assert data["model_providers"]["aoa"] == {"name": "old", "base_url": "http://x/v1"}
    assert data["model"] == "o3" and "model_provider" not in data
    assert data["tui"] == {"notifications": False}
    assert "# keep this comment" in path.read_text()


def test_codex_without_a_token_sends_none(home: Path) -> None:
    text = TOOLS["codex"].apply(None, make_ctx(home, token=""))
    assert "experimental_bearer_token" not in text
    assert "no-token-needed" not in text


def test_claude_code_env_sets_the_real_key_aside_and_brings_it_back(
    home: Path, conns: Connections
) -> None:
    ctx = make_ctx(home)
    path = TOOLS["claude-code"].path(ctx)
    put(path, SAMPLES["claude-code"])
    conns.connect("claude-code", ctx)
    data = json.loads(path.read_text())
    assert data["env"] == {
        "BASH_DEFAULT_TIMEOUT_MS": "60000",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:8080",
        "ANTHROPIC_AUTH_TOKEN": TOKEN,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": "big",
        "ANTHROPIC_DEFAULT_SONNET_MODEL": "gpt-5-codex",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "small",
    }
    assert "sk-ant-real-upstream-key" not in path.read_text()
    assert data["futureSetting"] == {"nested": [1, 2, {"x": None}]}
    assert data["permissions"]["deny"] == ["Read(./.env)"]
    data["theme"] = "light"
    path.write_text(json.dumps(data))
    conns.disconnect("claude-code", ctx)
    after = json.loads(path.read_text())
    assert after["env"] == {
        "ANTHROPIC_API_KEY": "sk-ant-real-upstream-key",
        "BASH_DEFAULT_TIMEOUT_MS": "60000",
    }
    assert after["theme"] == "light"


def test_claude_code_without_a_token_gets_a_placeholder(home: Path) -> None:
    data = json.loads(TOOLS["claude-code"].apply(None, make_ctx(home, token="")))
    assert data["env"]["ANTHROPIC_AUTH_TOKEN"] == "no-token-needed"


def test_llm_keeps_comments_and_hand_added_models(home: Path, conns: Connections) -> None:
    ctx = make_ctx(home)
    path = TOOLS["llm"].path(ctx)
    assert path == home / ".config" / "io.datasette.llm" / "extra-openai-models.yaml"
    put(path, SAMPLES["llm"])
    conns.connect("llm", ctx)
    text = path.read_text()
    assert "# models I added by hand" in text and "# small one" in text
    models = yaml.safe_load(text)
    assert models[0] == {
        "model_id": "my-ollama",
        "model_name": "qwen2.5:3b",
        "api_base": "http://localhost:11434/v1",
        "api_key_name": "ollama",
        "unknown_field": "kept",
    }
    ours = {m["model_id"]: m for m in models[1:]}
    assert set(ours) == {"aoa", "aoa/gpt-4", "aoa/gemini/gemini-2.5-pro"}
    assert ours["aoa"]["model_name"] == "gpt-5-codex"
    assert ours["aoa"]["headers"] == {"Authorization": f"Bearer {TOKEN}"}


def test_continue_keeps_the_rest_of_the_config(home: Path, conns: Connections) -> None:
    ctx = make_ctx(home)
    path = TOOLS["continue"].path(ctx)
    put(path, SAMPLES["continue"])
    conns.connect("continue", ctx)
    text = path.read_text()
    assert "name: My assistant  # mine" in text
    data = yaml.safe_load(text)
    assert data["rules"] == ["Be brief"] and data["context"] == [{"provider": "code"}]
    assert data["models"][0]["name"] == "Local Ollama"
    assert data["models"][1] == {
        "name": "aoa gpt-5-codex",
        "provider": "openai",
        "model": "gpt-5-codex",
        "apiBase": "http://127.0.0.1:8080/v1",
        "apiKey": TOKEN,
        "roles": ["chat", "edit", "apply"],
    }


def test_status_says_installed_when_the_settings_folder_exists(
    home: Path, conns: Connections
) -> None:
    ctx = make_ctx(home)
    assert not conns.status("codex", ctx)["installed"]
    (home / ".codex").mkdir()
    assert conns.status("codex", ctx)["installed"]


def test_status_says_installed_when_the_command_is_on_path(
    home: Path, conns: Connections, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    put(bin_dir / "claude", "#!/bin/sh\n", 0o755)
    ctx = Context(base_url="http://127.0.0.1:8080", home=home, env={"PATH": str(bin_dir)})
    assert conns.status("claude-code", ctx)["installed"]
    assert not conns.status("llm", ctx)["installed"]


@pytest.mark.parametrize(("name", "module"), [("codex", "tomlkit"), ("llm", "ruamel.yaml")])
def test_without_the_desktop_extra_connect_names_the_fix(
    name: str, module: str, home: Path, conns: Connections, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain `pip install aoa` lacks tomlkit/ruamel.yaml: the page still works, and Connect
    says what to install instead of failing with a traceback."""
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    with pytest.raises(ConnectError, match=r"aoa\[desktop\]"):
        conns.connect(name, make_ctx(home))
    assert not TOOLS[name].path(make_ctx(home)).exists()


def test_a_broken_yaml_file_is_named_without_quoting_its_lines(
    home: Path, conns: Connections
) -> None:
    ctx = make_ctx(home)
    path = TOOLS["continue"].path(ctx)
    put(path, "models:\n  - apiKey: sk-secret-in-yaml\n    name: [\n")
    problem = conns.status("continue", ctx)["problem"]
    assert str(path) in problem and "line" in problem
    assert "sk-secret-in-yaml" not in problem


def test_context_names_the_routed_models_and_never_an_upstream_key(home: Path) -> None:
    from aoa_desktop.connect import context_for
    from aoa_proxy.config import load_settings

    settings = load_settings(
        {
            "AOA_TYPE": "gemini",
            "AOA_PROVIDERS": "gemini,azure",
            "GEMINI_API_KEY": "AIza-upstream-secret-1",
            "GEMINI_MODEL": "gemini-2.5-pro",
            "GEMINI_MODEL_ALIAS": "claude-*haiku*:gemini-2.5-flash,big-opus:gemini-2.5-pro",
            "AZURE_ENDPOINT": "https://x.openai.azure.com",
            "AZURE_API_KEY": "az-upstream-secret-2",
            "AZURE_MODEL": "my-gpt4",
            "AZURE_MODEL_ALIAS": "gpt-4:my-gpt4",
            "AOA_HOST": "0.0.0.0",
            "AOA_ACCESS_TOKEN": TOKEN,
        }
    )
    ctx = context_for(settings, ("0.0.0.0", 9000), home=home, env={})
    assert ctx.base_url == "http://127.0.0.1:9000"
    assert ctx.model == "gemini-2.5-pro"
    assert ctx.models == ("big-opus", "gpt-4", "gemini/gemini-2.5-pro", "azure/my-gpt4")
    # opus: the literal alias; haiku: a wildcard already catches Claude's name; sonnet: default
    assert dict(ctx.tiers) == {"opus": "big-opus", "sonnet": "gemini-2.5-pro"}
    for tool in TOOLS.values():
        text = tool.apply(None, ctx) + "".join(s.text for s in tool.snippets(ctx))
        assert "upstream-secret" not in text
        assert TOKEN in text


def test_context_without_any_model_still_names_one(home: Path) -> None:
    from aoa_desktop.connect import context_for
    from aoa_proxy.config import load_settings

    settings = load_settings({"AOA_TYPE": "openai", "OPENAI_ENDPOINT": "http://127.0.0.1:1/v1"})
    ctx = context_for(settings, None, home=home, env={})
    assert ctx.model == "gpt-4o" and ctx.token == ""
    assert yaml.safe_load(TOOLS["llm"].apply(None, ctx))[0]["model_name"] == "gpt-4o"


def test_the_record_is_private_and_holds_no_token(
    home: Path, conns: Connections, tmp_path: Path
) -> None:
    ctx = make_ctx(home)
    put(TOOLS["claude-code"].path(ctx), SAMPLES["claude-code"])
    conns.connect("claude-code", ctx)
    record = tmp_path / "aoa" / "connections.json"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert stat.S_IMODE(record.parent.stat().st_mode) == 0o700
    text = record.read_text()
    assert TOKEN not in text and "sk-ant-real-upstream-key" not in text
    assert set(json.loads(text)["claude-code"]) == {"path", "backup", "written"}
