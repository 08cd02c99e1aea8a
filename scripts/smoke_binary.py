"""Smoke-test a built `aoa` binary on any OS: /health and a demo chat, then stop it.

    python scripts/smoke_binary.py dist/aoa            # Linux
    python scripts/smoke_binary.py dist/aoa.exe        # Windows
    python scripts/smoke_binary.py dist/aoa.app        # macOS (runs Contents/MacOS/aoa)

Standard library only, so it runs in a bare CI step. Prints the binary's size and the time from
start to the first 200 on /health; exits non-zero on any failure.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def smoke(target: Path, timeout: float = 120.0) -> int:
    """Run the checks against `target`; 0 when they pass."""
    program = target / "Contents" / "MacOS" / "aoa" if target.suffix == ".app" else target
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    home = Path(tempfile.mkdtemp(prefix="aoa-smoke-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AOA_", "AZURE_", "YI_"))}
    # A fresh user, so no stored settings and no other aoa's single-instance lock interfere.
    env.update(HOME=str(home), USERPROFILE=str(home), APPDATA=str(home), LOCALAPPDATA=str(home))
    env.update(XDG_RUNTIME_DIR=str(home), AOA_TYPE="demo")
    started = time.monotonic()
    proc = subprocess.Popen([str(program), "--headless", "--port", str(port)], env=env)
    try:
        while _status(f"{base}/health") != 200:
            if proc.poll() is not None:
                print(f"FAIL: aoa exited with {proc.returncode} before /health answered")
                return 1
            if time.monotonic() - started > timeout:
                print(f"FAIL: no 200 on /health within {timeout:.0f} s")
                return 1
            time.sleep(0.02)
        first_200 = time.monotonic() - started
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        request = urllib.request.Request(
            f"{base}/v1/chat/completions",
            data=body.encode(),
            headers={"Content-Type": "application/json", "Authorization": "Bearer any"},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            reply = json.load(resp)
        content = reply["choices"][0]["message"]["content"]
        if not content:
            print(f"FAIL: empty demo reply: {reply}")
            return 1
        print(
            f"OK: {target.name} {_size(target) / 1e6:.1f} MB; first 200 on /health after "
            f"{first_200:.2f} s; demo replied {content!r}"
        )
        return 0
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    raise SystemExit(smoke(Path(sys.argv[1])))
