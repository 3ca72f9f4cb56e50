"""Tiny builders for rule-engine tests: candidates, rules and a fixed clock."""
from __future__ import annotations

import itertools
from datetime import datetime, timezone

from reranking.rules import Candidate, Rule, RuleOutcome, apply_rules

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
_ids = itertools.count(1)


def item(item_id: str, score: float, **fields) -> Candidate:
    """Return a candidate; any Candidate field can be given by name."""
    return Candidate(item_id=item_id, score=score, **fields)


def rule(kind: str, params: dict, *, name: str | None = None, **fields) -> Rule:
    """Return a rule with a fresh id; the name defaults to the kind and id."""
    rule_id = fields.pop("id", next(_ids))
    return Rule(id=rule_id, name=name or f"{kind}-{rule_id}", kind=kind, params=params, **fields)


def when(field: str, op: str, value) -> dict:
    return {"field": field, "op": op, "value": value}


def run(candidates: list[Candidate], rules: list[Rule], **kwargs) -> RuleOutcome:
    """Apply the rules at the fixed clock NOW."""
    kwargs.setdefault("now", NOW)
    return apply_rules(candidates, rules, **kwargs)


def ids(outcome: RuleOutcome) -> list[str]:
    return [r.item_id for r in outcome.items]


def scored(*item_ids: str, top: float = 10.0) -> list[Candidate]:
    """Return candidates with strictly decreasing scores (top, top-1, ...) in the given order."""
    return [item(i, top - n) for n, i in enumerate(item_ids)]
