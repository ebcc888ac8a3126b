"""`sotong-stack`: start, stop and inspect the local platform (what `make up` and `make down` run)."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

from sotong_common import auth
from sotong_localstack import demo
from sotong_localstack.stack import CONSOLE_DEV_USERS, DEFAULT_RUN_DIR, Stack, StackState, stop_from_state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sotong-stack",
        description="Run Sotong locally: Apache Kafka (KRaft, from Maven Central jars), embedded PostgreSQL "
        "and every service process. State and logs live in the run directory.",
    )
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="where state and logs go (default .run)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start everything in the background, then run the demo")
    up.add_argument("--cluster", action="store_true", help="three Kafka nodes (replication 3, min ISR 2)")
    up.add_argument("--no-demo", action="store_true", help="start without running the demo")
    sub.add_parser("down", help="stop everything a previous `up` started")
    sub.add_parser("status", help="print the running stack's ports and processes as JSON")
    sub.add_parser("demo", help="run the demo against the running stack")
    sub.add_parser("env", help="print the SOTONG_* environment of the running stack (for `export $(...)`)")
    sub.add_parser("urls", help="print where to reach the running stack and the local credentials")
    args = parser.parse_args(argv)
    run_dir: Path = args.run_dir.resolve()

    if args.command == "up":
        if (run_dir / "stack.json").exists():
            print(f"a stack is already running from {run_dir}; run `make down` first", file=sys.stderr)
            return 1
        stack = Stack(run_dir, nodes=3 if args.cluster else 1)
        try:
            stack.start_infrastructure()
            stack.start_services()
        except Exception as exc:
            print(f"[stack] start failed: {exc}", file=sys.stderr)
            stack.stop()
            (run_dir / "stack.json").unlink(missing_ok=True)
            return 1
        code = 0 if args.no_demo else demo.run(run_dir)
        print(f"\nSotong is running. Logs: {run_dir / 'logs'}  Traces: {run_dir / 'traces.jsonl'}")
        print(how_to_call(StackState.load(run_dir)))
        print("Stop it with: make down")
        return code
    if args.command == "down":
        stop_from_state(run_dir)
        return 0
    if not (run_dir / "stack.json").exists():
        print("no stack is running (make up)", file=sys.stderr)
        return 1
    if args.command == "status":
        print(json.dumps(json.loads((run_dir / "stack.json").read_text()), indent=2))
        return 0
    if args.command == "urls":
        print(how_to_call(StackState.load(run_dir)))
        return 0
    if args.command == "env":
        for key, value in StackState.load(run_dir).env().items():
            print(f"{key}={value}")
        return 0
    return demo.run(run_dir)


def how_to_call(state: StackState) -> str:
    """Where a newcomer points a client at the running stack, with the local credentials (development only)."""
    lines = ["", "Call it yourself (local development credentials):"]
    operator = auth.issue(state.jwt_secret, "local-operator", ["operator"], ttl_s=24 * 3600)
    for name, port in sorted(state.grpc_ports.items()):
        lines.append(f"  {name:<16} gRPC 127.0.0.1:{port}")
    if state.grpc_ports:
        port = sorted(state.grpc_ports.items())[0][1]
        lines.append(f'{" " * 19}grpcurl -plaintext -H "authorization: Bearer $OPERATOR" 127.0.0.1:{port} list')
    http = state.http_ports.get("intake-http")
    if http:
        base = f"http://127.0.0.1:{http}"
        lines += [
            f"  Open311          {base}/open311/discovery.json   api_key={state.open311_api_key}",
            f"                   curl -d 'service_code=road-damage&lat=37.5663&long=126.9779&description=보도 파손'"
            f" -d api_key={state.open311_api_key} {base}/open311/v2/requests.json",
            f"  Kakao skill      POST {base}/kakao/skill  header X-Sotong-Skill-Token: {state.kakao_skill_token}",
        ]
    standins = state.standins_ports.get("standins")
    if standins:
        lines.append(f"  stand-ins        http://127.0.0.1:{standins['http']}/_control/stats (what each provider got)")
    partner_http = state.http_ports.get("partner-http")
    if partner_http:
        base = f"http://127.0.0.1:{partner_http}"
        lines += [
            f"  partner          {base}/m/<slug> (homepages), {base}/ep/<group>/naver/full.tsv (EP),"
            f" {base}/s/jongno-jewelry (a street)",
            f"                   catalogue webhook POST {base}/webhooks/catalogue/market-hub"
            f" (Standard Webhooks, secret {state.partner_webhook_secret})",
        ]
        if standins:
            lines.append(
                f"  shopping         http://127.0.0.1:{standins['http']}/shopping/v1/malls/<mall> (accepted products)"
            )
    citizen = auth.issue(state.jwt_secret, "local-citizen", ["citizen"], ttl_s=24 * 3600)
    gateway = state.http_ports.get("gateway-api")
    if gateway:
        base = f"http://127.0.0.1:{gateway}"
        lines += [
            f"  gateway          gRPC 127.0.0.1:{state.grpc_ports.get('gateway-api')}  Connect/gRPC-Web {base}"
            "  (the front door for apps and web pages)",
            f"                   curl -H \"authorization: Bearer $CITIZEN\" -H 'content-type: application/json' "
            f"""-d '{{"kind":"SUBMISSION_KIND_COMPLAINT","text":"가로등이 꺼졌어요","districtCode":"11140","""
            f""""idempotencyKey":"try-{secrets.token_hex(6)}"}}' """
            f"{base}/sotong.gateway.v1.GatewayService/SubmitReport",
            "                   (the same command again answers the same tracking id: the key makes retries safe)",
            f"                   curl -H \"authorization: Bearer $CITIZEN\" -H 'content-type: application/json' "
            f"-d '{{}}' {base}/sotong.gateway.v1.GatewayService/ListActiveAlerts",
        ]
    console = state.http_ports.get("console-web")
    if console and state.console_dev_password:
        users = ", ".join(f"{user} ({role})" for user, role in CONSOLE_DEV_USERS)
        lines += [
            f"  console          http://127.0.0.1:{console}/  (the operators' console in a browser: situation room,"
            " moderation queue, city inbox)",
            f"                   sign in as {users}",
            f"                   password {state.console_dev_password} (every local sign-in)",
        ]
    partner = auth.issue(state.jwt_secret, "local-partner", ["partner"], ttl_s=24 * 3600)
    lines.append(f"  CITIZEN={citizen}")
    if "community-api" in state.grpc_ports:  # supports and poll responses need a verified citizen
        verified = auth.issue(state.jwt_secret, "local-verified", ["citizen"], ttl_s=24 * 3600, verification="identity")
        lines.append(f"  VERIFIED_CITIZEN={verified}")
    lines.append(f"  OPERATOR={operator}")
    lines.append(f"  PARTNER={partner}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
