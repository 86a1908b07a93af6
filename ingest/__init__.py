"""Turn files into clean, titled lessons and chunks."""
