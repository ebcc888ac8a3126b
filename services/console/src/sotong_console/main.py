"""`sotong-console-web`: the operators' console, pages and live streams on one HTTP port, calling only the gateway."""

from __future__ import annotations

from aiohttp import web

from sotong_common import auth, logs, process
from sotong_console import settings
from sotong_console.gateway import Gateway
from sotong_console.pages import Pages
from sotong_console.sessions import Sealer, Sessions
from sotong_console.signin import DevSignIn, OidcSignIn
from sotong_console.web import Console, build_app

SHUTDOWN_S = 5.0


class HttpServer:
    """The aiohttp application as a process part: open live streams end first, so stopping does not wait on them."""

    def __init__(self, console: Console, host: str, port: int) -> None:
        self._console = console
        self._runner = web.AppRunner(build_app(console), access_log=None, shutdown_timeout=SHUTDOWN_S)
        self._host = host
        self._port = port
        self.port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._console.live.closing.set()
        await self._runner.cleanup()


async def serve(proc: process.Process, chosen: settings.Console) -> None:
    verifier = auth.TokenVerifier.from_settings(chosen)
    gateway = Gateway(chosen.console_gateway_target, chosen.console_call_timeout_s)
    proc.on_stop("gateway channel", gateway.close)
    oidc = OidcSignIn(chosen, verifier) if chosen.console_oidc_issuer else None
    if oidc is not None:
        await proc.start("OpenID Connect discovery", oidc)
    console = Console(
        settings=chosen,
        gateway=gateway,
        sessions=Sessions(Sealer(chosen.console_session_keys), secure=chosen.console_secure_cookies),
        pages=Pages(),
        verifier=verifier,
        dev=DevSignIn(chosen, verifier) if chosen.console_dev_users else None,
        oidc=oidc,
    )
    http = HttpServer(console, chosen.listen_host, chosen.http_port)
    await proc.start("console pages", http)
    logs.get("console").info(
        "console serving",
        http_port=http.port,
        gateway=chosen.console_gateway_target,
        sign_in="oidc" if oidc else "local users",
    )


def main() -> None:
    process.run("console-web", "console", settings.Console.load_or_exit(), serve)


if __name__ == "__main__":
    main()
