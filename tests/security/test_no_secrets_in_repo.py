"""No secret is committed: every tracked file is scanned for key-like strings.

Allowed, each with its reason: the test settings' throwaway SECRET_KEY, and passwords of throwaway test
users under tests/. Placeholders in example files must look like placeholders.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PATTERNS = {
    "API key": re.compile(r"rk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "hard-coded SECRET_KEY": re.compile(r"""SECRET_KEY\s*=\s*["'][^"']+["']"""),
    "hard-coded password": re.compile(r"""(?i)\b(?:password|passwd|pwd)["']?\s*[=:]\s*["']([^"'\s]{3,})["']"""),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^/\s:@'\"]+)@"),
}
PLACEHOLDERS = {"password", "change-me", "changeme", "example", "secret", "xxx", "***"}
ALLOWED = {
    ("config/settings/test.py", "hard-coded SECRET_KEY"): "the test suite's own throwaway key",
}
TEST_PASSWORDS_OK = "tests/"  # fixture users' passwords in tests are throwaway by design


def findings(path: str, text: str) -> list[str]:
    found = []
    for kind, pattern in PATTERNS.items():
        if (path, kind) in ALLOWED:
            continue
        for match in pattern.finditer(text):
            value = match.group(1) if pattern.groups else match.group(0)
            if kind in ("hard-coded password", "password in a URL"):
                if path.startswith(TEST_PASSWORDS_OK) or value.lower() in PLACEHOLDERS:
                    continue
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path}:{line}: {kind}")
    return found


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout: {exc}")
    return [name for name in out.decode().split("\0") if name]


def test_no_tracked_file_holds_a_secret():
    files = tracked_files()
    assert len(files) > 100
    problems = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8000]:  # binary
            continue
        problems += findings(name, data.decode("utf-8", errors="replace"))
    assert not problems, "possible secrets in tracked files:\n" + "\n".join(problems)


def test_the_scanner_finds_each_kind():
    # Built at run time, so this file itself holds none of them.
    samples = {
        "API key": "rk_" + "0123456789ab" + "_" + "Q" * 43,
        "private key": "-----BEGIN " + "RSA PRIVATE KEY-----",
        "AWS access key": "AKIA" + "ABCDEFGHIJKLMNOP",
        "GitHub token": "ghp_" + "a1" * 18,
        "Slack token": "xoxb-" + "1234567890-abc",
        "hard-coded SECRET_KEY": "SECRET_KEY" + ' = "' + "kj3h4k5jh34k5" + '"',
        "hard-coded password": "password" + "='" + "hunter2hunter" + "'",
        "password in a URL": "postgres://" + "recs:" + "s3cr3tpw" + "@db:5432/recs",
    }
    for kind, sample in samples.items():
        assert findings("reranking/x.py", f"a = 1\n{sample}\n") == [f"reranking/x.py:2: {kind}"], kind
    assert findings("platform/env.example", "DATABASE_URL=postgres://recs:" + "password@db/recs") == []
    assert findings("tests/x.py", "create_user('bob', password=" + "'pw-bob')") == []
