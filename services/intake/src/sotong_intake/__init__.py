"""Sotong intake: one normalized `Submission` for every way a citizen can reach the city.

The modules here are pure domain logic (validation, channel payload mapping, Open311, signatures, personal-data
protection, duplicate scoring); the gRPC API and the stream worker wire them to Kafka and PostgreSQL.
"""
