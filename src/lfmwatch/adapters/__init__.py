"""Adapters to the outside world: arXiv, GitHub, an OpenAI-compatible LLM, SMTP."""
