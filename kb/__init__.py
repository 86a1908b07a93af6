"""kb: the sales experience knowledge base."""
