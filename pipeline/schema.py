"""Version of every JSON file the pipeline writes (records, summaries, contexts, state)."""

SCHEMA = 7
