"""Minimal forward proxies on loopback (HTTP CONNECT and SOCKS5), counting the tunnels they open
and recording the logins clients sent (Basic Proxy-Authorization, SOCKS5 user/password)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import struct
from dataclasses import dataclass, field


@dataclass
class TunnelProxy:
    kind: str  # "http" or "socks5"
    tunnels: list[tuple[str, int]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)  # "user:password" as the proxy got them
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"{self.kind}://127.0.0.1:{port}"

    async def start(self) -> TunnelProxy:
        handler = self._http if self.kind == "http" else self._socks5
        self.server = await asyncio.start_server(handler, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _sep, value = line.partition(":")
            kind, _sep, token = value.strip().partition(" ")
            if name.lower() == "proxy-authorization" and kind.lower() == "basic":
                self.logins.append(base64.b64decode(token).decode())
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            writer.close()
            return
        host, port = target.rsplit(":", 1)
        await self._tunnel(
            reader, writer, host, int(port), b"HTTP/1.1 200 Connection established\r\n\r\n"
        )

    async def _socks5(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _ver, nmethods = await reader.readexactly(2)
        methods = await reader.readexactly(nmethods)
        if 2 in methods:  # RFC 1929 user/password: the client has a login, take it
            writer.write(b"\x05\x02")
            _ver, ulen = await reader.readexactly(2)
            user = await reader.readexactly(ulen)
            (plen,) = await reader.readexactly(1)
            password = await reader.readexactly(plen)
            self.logins.append(f"{user.decode()}:{password.decode()}")
            writer.write(b"\x01\x00")
        else:
            writer.write(b"\x05\x00")  # no authentication
        _ver, _cmd, _rsv, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = ".".join(str(b) for b in await reader.readexactly(4))
        elif atyp == 3:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        else:
            writer.close()
            return
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        await self._tunnel(reader, writer, host, port, b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")

    async def _tunnel(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        port: int,
        ok: bytes,
    ) -> None:
        self.tunnels.append((host, port))
        up_reader, up_writer = await asyncio.open_connection(host, port)
        writer.write(ok)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
