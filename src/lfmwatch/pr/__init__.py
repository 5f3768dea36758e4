"""The pull request: choose and propose papers, write its body, read its outcome back (sync)."""
