"""The publishing service: delivers what every other service has to say to every official channel, once per target.

Alerting's alerts and pages, intake's status replies to citizens, and later community's briefings and class
notices and partner's promotions all arrive as `sotong.publishing.v1.DispatchRequested` on each requester's own
dispatch-request topic. This package only delivers, whatever fails on the way: priority lanes (`lanes`),
idempotency keys and the durable delivery record (`idempotency`, `store`), retries with jittered backoff
(`retry`), per-provider token buckets (`ratelimit`), circuit breakers with a fallback provider (`breaker`,
`delivery`), one adapter per channel kind (`providers`), audiences from the directory (`directory`), sealed
targets opened only here (`sotong_common.sealing`), the process (`worker`) and the dead-letter replay command
(`replay`).
"""
