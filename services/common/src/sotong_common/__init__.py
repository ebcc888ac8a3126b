"""Sotong's shared platform library.

Everything two services need lives here once (DESIGN.md): configuration, logs, traces, the gRPC server
bootstrap, Kafka event metadata and stream helpers, PostgreSQL migrations, the transactional outbox and
processed-event dedup. Services import this and the generated contracts (`sotong.<svc>.v1`), never each other.
"""
