"""Sotong community, part 1: citizen participation (tasks 4 and 5 of the plan).

Proposals that reach an official answer (an explicit state machine, supports counted exactly once, staged
answers, accountability), debates and threaded comments, polls and surveys, citizen communities, and opinion by
district. Everything citizens write is moderated before anyone else sees it. Part 2 (the city's outreach: SNS
account registry, business cards, guidelines, expert network, briefings, classes, campaigns) adds its own modules
and RPCs beside these.
"""
