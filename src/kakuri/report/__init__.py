"""Reports: evaluation figures, traces, statistics."""
