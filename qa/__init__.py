"""QA: replay of recorded calls through the live pipeline, compliance audit, reports."""
