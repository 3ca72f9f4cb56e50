"""API keys are looked up by their public part and verified in constant time; no code compares a secret with ==."""
from __future__ import annotations

import ast
import hmac
from pathlib import Path

import pytest

from tenants.models import ApiKey, hash_key
from tests.conftest import api_client

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ["tenants", "reranking", "worker", "config"]
SECRET_NAMES = {"key_hash", "hash_key", "raw", "secret", "raw_key", "password"}


def test_every_key_check_goes_through_compare_digest(alice, monkeypatch):
    calls, compare_digest = [], hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr("tenants.models.hmac.compare_digest", spy)
    stored = ApiKey.objects.get(tenant=alice.tenant, name="all").key_hash
    assert alice.client.get("/api/v1/tenant").status_code == 200
    assert calls == [(stored, hash_key(alice.raw_key))]
    wrong = alice.raw_key[:-4] + ("AAAA" if not alice.raw_key.endswith("AAAA") else "BBBB")  # right lookup
    calls.clear()
    assert api_client(wrong).get("/api/v1/tenant").status_code == 401
    assert calls == [(stored, hash_key(wrong))], "a wrong secret with a real lookup is compared in constant time"


def names_in(node: ast.AST) -> set[str]:
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
    return found


def unsafe_comparisons(source: str, label: str) -> list[str]:
    """`==`/`!=` on anything named like a secret, and database lookups by key_hash (neither constant time)."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            touched = names_in(node) & SECRET_NAMES
            if touched:
                problems.append(f"{label}:{node.lineno}: == on {sorted(touched)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "filter", "get", "exclude"):
            if any(k.arg and k.arg.split("__")[0] == "key_hash" for k in node.keywords):
                problems.append(f"{label}:{node.lineno}: a query by key_hash")
    return problems


def test_no_code_compares_a_secret_with_an_operator_or_queries_by_it():
    files = [p for d in PROJECT for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts]
    assert len(files) > 30
    problems = [found for path in files for found in unsafe_comparisons(path.read_text(), str(path.relative_to(ROOT)))]
    assert not problems, "\n".join(problems)


def test_the_comparison_scan_finds_the_unsafe_forms():
    assert unsafe_comparisons("ok = self.key_hash == hash_key(raw)", "x") == ["x:1: == on ['hash_key', 'key_hash', 'raw']"]
    assert unsafe_comparisons("k = ApiKey.objects.get(key_hash=h)", "x") == ["x:1: a query by key_hash"]
    assert unsafe_comparisons("ok = hmac.compare_digest(a, b)", "x") == []


def test_matches_uses_compare_digest():
    source = ast.parse(Path(ROOT / "tenants/models.py").read_text())
    matches = next(n for n in ast.walk(source) if isinstance(n, ast.FunctionDef) and n.name == "matches")
    calls = {ast.unparse(n.func) for n in ast.walk(matches) if isinstance(n, ast.Call)}
    assert calls & {"hmac.compare_digest", "secrets.compare_digest"}, calls
