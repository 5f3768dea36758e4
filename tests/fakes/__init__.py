"""Real loopback servers that stand in for arXiv, GitHub, an LLM endpoint and SMTP in tests."""
