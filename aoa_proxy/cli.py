"""`aoa-proxy`: the headless gateway. Configured by environment variables, as the original."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence

from aoa_proxy import __version__
from aoa_proxy.config import ENV_VARS, PROVIDERS, ProviderSettings, Settings, load_settings
from aoa_proxy.errors import ConfigError
from aoa_proxy.i18n import HelpFormatter, _, detect_language, set_language
from aoa_proxy.security import mask

log = logging.getLogger("aoa")


def build_parser() -> argparse.ArgumentParser:
    """The parser, with help in the current language (call after set_language)."""
    width = max(len(v.name) for v in ENV_VARS)
    # Variable names and literal defaults stay as typed; help texts are N_()-marked (catalogue).
    env_help = "\n".join(
        f"  {v.name:<{width}}  {_(v.help)}"
        + (_(" (default: {value})").format(value=_(v.default)) if v.default else "")
        for v in ENV_VARS
    )
    parser = argparse.ArgumentParser(
        prog="aoa-proxy",
        description=_("An OpenAI-compatible gateway for Azure OpenAI, Yi, Gemini and other hosts."),
        epilog=_("environment variables:") + f"\n{env_help}",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--host", help=_("address to listen on (overrides AOA_HOST; default 127.0.0.1)")
    )
    parser.add_argument(
        "--port", type=int, help=_("port to listen on (overrides AOA_PORT; default 8080)")
    )
    parser.add_argument("--type", choices=PROVIDERS, help=_("provider (overrides AOA_TYPE)"))
    parser.add_argument("--version", action="version", version=f"aoa-proxy {__version__}")
    return parser


def settings_from(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """Environment first, then command-line overrides (validated the same way)."""
    merged = dict(env)
    if args.host is not None:
        merged["AOA_HOST"] = args.host
    if args.port is not None:
        merged["AOA_PORT"] = str(args.port)
    if args.type is not None:
        merged["AOA_TYPE"] = args.type
    return load_settings(merged)


class _Formatter(logging.Formatter):
    """formatTime with the date string cached per second: the access log formats one line per
    request, and strftime was a third of that line's cost."""

    _stamp: tuple[int, str | None, str] = (-1, None, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if self._stamp[0] != second or self._stamp[1] != datefmt:
            ct = self.converter(record.created)
            self._stamp = (second, datefmt, time.strftime(datefmt or self.default_time_format, ct))
        if datefmt:
            return self._stamp[2]
        return f"{self._stamp[2]},{int(record.msecs):03d}"


class _JsonFormatter(_Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import orjson

        out = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def describe(settings: Settings) -> list[str]:
    """Start-up lines: providers, address, aliases, and what to fix. Keys only masked."""
    if settings.several:
        lines = [
            _("providers: {names} (default: {name})").format(
                names=", ".join(settings.enabled), name=settings.provider
            )
        ]
        for name in settings.enabled:
            lines += [f"{name}: {line}" for line in _describe_one(settings.provider_settings(name))]
        return lines
    lines = [_("provider: {name}").format(name=settings.provider)]
    if settings.provider == "demo":
        lines.append(
            _(
                "no provider is configured, so the offline demo provider answers; set e.g. "
                "AOA_TYPE=azure AZURE_ENDPOINT=https://NAME.openai.azure.com/ AZURE_API_KEY=... "
                "(see aoa-proxy --help)"
            )
        )
        lines += _aliases(settings.active)
        return lines
    return lines + _describe_one(settings.active)


def _describe_one(p: ProviderSettings) -> list[str]:
    lines = []
    if p.name != "demo":
        if p.endpoint:
            lines.append(_("upstream: {url}").format(url=p.endpoint))
        if p.model:
            lines.append(_("default model: {model}").format(model=p.model))
        lines.append(
            _("server key: {key}").format(key=", ".join(mask(k) for k in p.keys))
            if p.keys
            else _("server key: none - clients' own keys are passed on")
        )
        if p.proxy:
            lines.append(_("proxy: {url}").format(url=_safe_proxy(p.proxy)))
    return lines + _aliases(p)


def _aliases(p: ProviderSettings) -> list[str]:
    return [
        _("alias: {alias} -> {target}").format(alias=alias, target=target)
        for alias, target in p.aliases.items()
    ]


def _safe_proxy(url: str) -> str:
    """A proxy URL without its password."""
    from aoa_proxy.proxyauth import mask_login

    return mask_login(url)


def exposure_warning(settings: Settings) -> str | None:
    """A warning when a non-loopback bind would let others spend the server's key."""
    enabled = [settings.provider_settings(n) for n in settings.enabled]
    if settings.is_loopback or settings.access_token:
        return None
    if any(ps.entra for ps in enabled):  # Entra ID: the person's own Azure identity
        return _(
            "listening on {host} with Entra ID sign-in (AZURE_AUTH=entra) and no "
            "AOA_ACCESS_TOKEN: anyone who can reach this port can use your Azure identity"
        ).format(host=settings.host)
    if not any(ps.keys for ps in enabled):
        return None
    return _(
        "listening on {host} with a server-side key and no AOA_ACCESS_TOKEN: anyone who "
        "can reach this port can spend the key"
    ).format(host=settings.host)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    set_language(detect_language(env))
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args, env)
    except ConfigError as exc:
        for line in exc.lines:
            print(f"aoa-proxy: {line}", file=sys.stderr)
        return 2
    from aoa_proxy.providers import REGISTRY

    for name in settings.enabled:
        if name not in REGISTRY:
            problem = _("the {name} provider is not available in this build")
            var = "AOA_TYPE" if name == settings.provider else "AOA_PROVIDERS"
            print(f"aoa-proxy: {var}: {problem.format(name=name)}", file=sys.stderr)
            return 2
    setup_logging(settings.log_level, settings.log_format)
    for line in describe(settings):
        log.info("%s", line)
    for warning in settings.warnings:
        log.warning("%s", warning)
    exposed = exposure_warning(settings)
    if exposed:
        log.warning("%s", exposed)
    return serve(settings)


def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; AOA_WORKERS > 1 runs that many processes sharing the port."""
    if settings.workers > 1:
        if not hasattr(os, "fork"):
            log.error("%s", _("AOA_WORKERS > 1 needs a Unix system"))
            return 2
        return _supervise(settings)
    return _serve_one(settings, reuse_port=False)


def _serve_one(settings: Settings, *, reuse_port: bool) -> int:
    from aiohttp import web

    from aoa_proxy.app import create_app
    from aoa_proxy.drain import install_sigterm

    loop = _new_loop()
    asyncio.set_event_loop(loop)
    log.info(
        _("listening on http://%s:%d/v1 (pid %d)"),
        _url_host(settings.host),
        settings.port,
        os.getpid(),
    )
    app = create_app(settings)
    install_sigterm(app, settings.shutdown_grace)
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            access_log=None,
            print=None,
            handle_signals=True,
            handler_cancellation=True,
            # SIGTERM already waited for requests in flight (drain.py); what is left after
            # AOA_SHUTDOWN_GRACE, or on SIGINT, gets 1 s (aiohttp waits twice that at most).
            shutdown_timeout=1,
            reuse_port=reuse_port or None,
            loop=loop,
        )
    except OSError as exc:
        log.error(
            _("cannot listen on %s:%d: %s"), settings.host, settings.port, exc.strerror or exc
        )
        return 1
    return 0


def _supervise(settings: Settings) -> int:
    """Fork the workers (before any event loop exists), pass SIGTERM/SIGINT on, and wait.

    The parent only supervises, so stopping it (docker stop, systemd, Ctrl-C) stops every
    worker instead of leaving orphans serving the port.
    """
    import signal

    children: list[int] = []
    for _worker in range(settings.workers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _serve_one(settings, reuse_port=True)
            finally:
                logging.shutdown()
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    worst = 0
    for child in children:
        _pid, status = os.waitpid(child, 0)  # retried on EINTR (PEP 475)
        code = os.waitstatus_to_exitcode(status)
        worst = worst or (code if code > 0 else 0)
    return worst


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop
