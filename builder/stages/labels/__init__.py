"""Coordination outcome labels: a transparent offline labeler (default) and an OpenAI-compatible LLM judge."""
