"""What every RPC of the community API works with: the stores of one process and its settings."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from sotong_community.comment_store import CommentStore
from sotong_community.debate_store import DebateStore
from sotong_community.group_store import GroupStore
from sotong_community.ledger import Ledger
from sotong_community.opinion_store import OpinionStats
from sotong_community.poll_store import PollStore
from sotong_community.proposal_store import ProposalStore


@dataclass(frozen=True)
class Context:
    pool: asyncpg.Pool
    proposals: ProposalStore
    ledger: Ledger
    comments: CommentStore
    debates: DebateStore
    polls: PollStore
    groups: GroupStore
    opinion: OpinionStats
    report_threshold: int

    @classmethod
    def of(cls, pool: asyncpg.Pool, report_threshold: int) -> Context:
        return cls(
            pool,
            ProposalStore(pool),
            Ledger(pool),
            CommentStore(pool),
            DebateStore(pool),
            PollStore(pool),
            GroupStore(pool),
            OpinionStats(pool),
            report_threshold,
        )
