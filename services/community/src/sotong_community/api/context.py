"""What every RPC of the community API works with: the stores of one process and its settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from sotong_common.at_rest import KeyRing
from sotong_common.sealing import Sealer
from sotong_community.account_store import AccountStore
from sotong_community.briefing_store import BriefingStore
from sotong_community.campaign_store import CampaignStore
from sotong_community.class_store import ClassStore
from sotong_community.comment_store import CommentStore
from sotong_community.debate_store import DebateStore
from sotong_community.expert_store import ExpertStore
from sotong_community.group_store import GroupStore
from sotong_community.guideline_store import GuidelineStore
from sotong_community.ledger import ANNOUNCE_EVERY, Ledger
from sotong_community.opinion_store import OpinionStats
from sotong_community.poll_store import PollStore
from sotong_community.proposal_store import ProposalStore


@dataclass(frozen=True)
class Outreach:
    """Part 2's rules: the audit's dormancy period and merge overlap, how long training counts."""

    dormant_days: int = 90
    merge_overlap: float = 0.35
    training_valid_days: int = 365


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
    accounts: AccountStore
    guidelines: GuidelineStore
    classes: ClassStore
    briefings: BriefingStore
    experts: ExpertStore
    campaigns: CampaignStore
    outreach: Outreach

    @classmethod
    def of(
        cls,
        pool: asyncpg.Pool,
        report_threshold: int,
        outreach: Outreach | None = None,
        keys: KeyRing | None = None,
        sealer: Sealer | None = None,
        announce_supports_every: timedelta = ANNOUNCE_EVERY,
    ) -> Context:
        return cls(
            pool,
            ProposalStore(pool),
            Ledger(pool, announce_every=announce_supports_every),
            CommentStore(pool),
            DebateStore(pool),
            PollStore(pool),
            GroupStore(pool),
            OpinionStats(pool),
            report_threshold,
            AccountStore(pool),
            GuidelineStore(pool),
            ClassStore(pool, keys, sealer),
            BriefingStore(pool, keys, sealer),
            ExpertStore(pool, keys, sealer),
            CampaignStore(pool),
            outreach or Outreach(),
        )
