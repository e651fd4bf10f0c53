"""Secrets out of every text the builder stores in data or prints: an endpoint that echoes the API key
in its error body must not put the key into the Parquet files (which `push` publishes) or the terminal.

`redact` replaces the values of secret-holding environment variables (the judge's key variable, HF_TOKEN,
OPENAI_API_KEY, ...) wherever they occur, and anything shaped like a credential: bearer tokens, `sk-...`
and `hf_...` keys, and `api_key=` / `token:` style assignments.
"""

from __future__ import annotations

import os
import re

REDACTED = "[REDACTED]"
SECRET_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "OPENAI_API_KEY", "OPENROUTER_API_KEY")
SECRET_SHAPES = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"                          # Authorization: Bearer <token>
    r"|\b(?:sk|hf|rk|pk)[-_][A-Za-z0-9_-]{12,}"                       # sk-..., hf_..., sk-proj-...
    r"|((?:api[_-]?key|access[_-]?token|token|secret|password)\s*[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]{6,}"
)


def redact(text: str | None, secrets: tuple[str, ...] = ()) -> str | None:
    """`text` with every known secret value and every credential-shaped string replaced by [REDACTED]."""
    if not text:
        return text
    values = {os.environ.get(name) for name in SECRET_VARIABLES} | set(secrets)
    for value in sorted((v for v in values if v and len(v) >= 6), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return SECRET_SHAPES.sub(lambda m: (m.group(1) or m.group(2) or "") + REDACTED, text)
