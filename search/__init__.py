"""Hybrid lexical + dense search over lessons."""
