"""Sotong's shared platform library.

Everything two services need lives here once (DESIGN.md): typed settings (`config`), the process lifecycle
(`process`), how every consumer treats a record (`consumer`, used by `streams` for Faust workers, `batching` for
librdkafka micro-batches and the publishing engine's lanes), logs, traces, the gRPC server bootstrap and auth,
Kafka event metadata and the topic catalog, PostgreSQL migrations, the transactional outbox, processed-event
dedup, sealed targets for the publishing service (`sealing`), the KakaoTalk templates the city registered and
Seoul's geography. Services import this and the generated contracts (`sotong.<svc>.v1`), never each other.
"""
