"""The pipeline: accept -> inbox -> processor (validate, store, project) -> hooks (rules)."""
