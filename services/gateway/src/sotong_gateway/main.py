"""`sotong-gateway-api`: the one front door, native gRPC and Connect/gRPC-Web in one process and one event loop."""

from __future__ import annotations

import grpc

from sotong_common import auth, logs, process
from sotong_gateway import citizens, operators, settings
from sotong_gateway.edge import Backend, Deadlines, Edge, StreamSlots
from sotong_gateway.native import NativeDoor
from sotong_gateway.ratelimit import Buckets
from sotong_gateway.web import BrowserDoor, HttpServer

# Keepalive pings keep idle connections to the services from being cut by a middlebox while a watch is quiet.
CHANNEL_OPTIONS = [("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_permit_without_calls", 1)]


def build_edge(chosen: settings.Gateway, verifier: auth.TokenVerifier, backends: dict[str, Backend]) -> Edge:
    public = citizens.Citizens(backends[citizens.INTAKE], backends[citizens.ALERTING])
    client_rate, client_burst = chosen.gateway_client_rate
    citizen_rate, citizen_burst = chosen.gateway_citizen_rate
    return Edge(
        [*public.routes(), *operators.routes(backends)],
        verifier,
        clients=Buckets("client", client_rate, client_burst),
        citizens=Buckets("citizen", citizen_rate, citizen_burst),
        streams=StreamSlots(chosen.gateway_max_streams_per_caller),
        deadlines=Deadlines(
            default_unary_s=chosen.gateway_default_timeout_s,
            max_unary_s=chosen.gateway_max_timeout_s,
            max_stream_s=chosen.gateway_max_stream_s,
        ),
    )


async def serve(proc: process.Process, chosen: settings.Gateway) -> None:
    verifier = auth.TokenVerifier.from_settings(chosen)
    targets = {
        "sotong.intake.v1.IntakeService": ("intake", chosen.gateway_intake_target),
        "sotong.alerting.v1.AlertingService": ("alerting", chosen.gateway_alerting_target),
        "sotong.moderation.v1.ModerationService": ("moderation", chosen.gateway_moderation_target),
    }
    backends = {
        service: Backend(name, grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS))
        for service, (name, target) in targets.items()
    }

    async def close_channels() -> None:
        for backend in backends.values():
            await backend.close()

    proc.on_stop("service channels", close_channels)
    edge = build_edge(chosen, verifier, backends)
    # The HTTP door first: the native door's health turns SERVING last, once both doors take calls.
    browser = BrowserDoor(
        edge,
        allowed_origins=chosen.gateway_allowed_origins,
        max_request_bytes=chosen.gateway_max_request_bytes,
        trusted_proxy_hops=chosen.gateway_trusted_proxy_hops,
    )
    http = HttpServer(browser, chosen.listen_host, chosen.http_port)
    await proc.start("Connect and gRPC-Web door", http)
    native = NativeDoor(
        edge,
        verifier,
        host=chosen.listen_host,
        port=chosen.grpc_port,
        max_message_bytes=chosen.gateway_max_request_bytes,
        trusted_proxy_hops=chosen.gateway_trusted_proxy_hops,
        reflection_open=chosen.grpc_reflection_open,
    )
    await proc.start("native gRPC door", native)
    logs.get("gateway").info(
        "gateway serving",
        grpc_port=native.port,
        http_port=http.port,
        routes=len(edge.routes),
        origins=sorted(chosen.gateway_allowed_origins),
    )


def main() -> None:
    process.run("gateway-api", "gateway", settings.Gateway.load_or_exit(), serve)


if __name__ == "__main__":
    main()
