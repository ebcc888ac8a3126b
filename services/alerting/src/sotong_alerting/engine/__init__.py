"""The publishing engine: delivers DispatchRequested events to every official channel, once per target.

The incident side decides what to say and to whom; this package only delivers, whatever fails on the way:
priority lanes (`lanes`), idempotency keys and the durable delivery record (`idempotency`, `store`), retries
with jittered backoff (`retry`), per-provider token buckets (`ratelimit`), circuit breakers with a fallback
provider (`breaker`), one adapter per channel kind (`providers`), audience resolution (`directory`), the
dispatch worker (`worker`) and the dead-letter replay command (`replay`).
"""
