"""What each tool in tools/ does, given its parsed flags (the tools only parse flags)."""
