"""The local stack: real Apache Kafka and real PostgreSQL on this machine, no Docker, no root install."""
