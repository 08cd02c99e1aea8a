"""Tools aoa does not edit: what to paste (Open WebUI, Cherry Studio, plain Python/JS/curl),
filled in with the real address, port and access token."""

from __future__ import annotations

import json
import shlex
from abc import ABC, abstractmethod
from typing import ClassVar

from aoa_desktop.connect.base import Context, Snippet
from aoa_proxy.i18n import _


def _q(text: str) -> str:
    """A string literal Python and JavaScript both read."""
    return json.dumps(text)


class Guide(ABC):
    name: ClassVar[str]
    label: ClassVar[str]

    @abstractmethod
    def snippets(self, ctx: Context) -> list[Snippet]: ...


class OpenWebUI(Guide):
    name = "open-webui"
    label = "Open WebUI"

    def snippets(self, ctx: Context) -> list[Snippet]:
        port = ctx.base_url.rsplit(":", 1)[-1]
        common = "-v open-webui:/app/backend/data --name open-webui --restart always"
        image = "ghcr.io/open-webui/open-webui:main"
        # On Linux a container reaches the host's 127.0.0.1 only on the host network; Open
        # WebUI then needs a port of its own (it would take 8080).
        linux = (
            "docker run -d --network=host -e PORT=3000 \\\n"
            f"  -e OPENAI_API_BASE_URL={shlex.quote(ctx.api_base)} \\\n"
            f"  -e OPENAI_API_KEY={shlex.quote(ctx.key)} \\\n"
            f"  {common} {image}\n"
        )
        desktop = (
            "docker run -d -p 3000:8080 \\\n"
            f"  -e OPENAI_API_BASE_URL=http://host.docker.internal:{port}/v1 \\\n"
            f"  -e OPENAI_API_KEY={shlex.quote(ctx.key)} \\\n"
            f"  {common} {image}\n"
        )
        return [
            Snippet(_("Linux (then open http://localhost:3000)"), "bash", linux),
            Snippet(_("Docker Desktop on macOS or Windows"), "bash", desktop),
        ]


class CherryStudio(Guide):
    name = "cherry-studio"
    label = "Cherry Studio"

    def snippets(self, ctx: Context) -> list[Snippet]:
        text = _(
            "Settings → Model Provider → Add, type OpenAI\n"
            "API Key: {key}\n"
            "API Host: {host}\n"
            "Then Manage → add the models (e.g. {model})."
        ).format(key=ctx.key, host=ctx.base_url, model=ctx.model or "gpt-4o")
        return [Snippet(_("What to paste"), "text", text + "\n")]


class Python(Guide):
    name = "python"
    label = "Python"

    def snippets(self, ctx: Context) -> list[Snippet]:
        text = (
            "from openai import OpenAI\n\n"
            f"client = OpenAI(base_url={_q(ctx.api_base)}, api_key={_q(ctx.key)})\n"
            "reply = client.chat.completions.create(\n"
            f"    model={_q(ctx.model or 'gpt-4o')},\n"
            '    messages=[{"role": "user", "content": "Say hello"}],\n'
            ")\n"
            "print(reply.choices[0].message.content)\n"
        )
        return [Snippet("pip install openai", "python", text)]


class JavaScript(Guide):
    name = "javascript"
    label = "JavaScript"

    def snippets(self, ctx: Context) -> list[Snippet]:
        text = (
            'import OpenAI from "openai";\n\n'
            f"const client = new OpenAI({{ baseURL: {_q(ctx.api_base)}, "
            f"apiKey: {_q(ctx.key)} }});\n"
            "const reply = await client.chat.completions.create({\n"
            f"  model: {_q(ctx.model or 'gpt-4o')},\n"
            '  messages: [{ role: "user", content: "Say hello" }],\n'
            "});\n"
            "console.log(reply.choices[0].message.content);\n"
        )
        return [Snippet("npm install openai", "javascript", text)]


class Curl(Guide):
    name = "curl"
    label = "curl"

    def snippets(self, ctx: Context) -> list[Snippet]:
        body = json.dumps(
            {"model": ctx.model or "gpt-4o", "messages": [{"role": "user", "content": "Say hello"}]}
        )
        text = (
            f"curl {shlex.quote(ctx.api_base + '/chat/completions')} \\\n"
            f"  -H {shlex.quote('Authorization: Bearer ' + ctx.key)} \\\n"
            "  -H 'Content-Type: application/json' \\\n"
            f"  -d {shlex.quote(body)}\n"
        )
        return [Snippet("curl", "bash", text)]
