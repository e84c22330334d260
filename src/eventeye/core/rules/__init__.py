"""Rules: what to watch for in stored events (match, consecutive, absence, rate), evaluated as they are processed."""
