"""Sentiment analyzers, one module each, and the registry that lists them (`registry`).

Nothing in this package imports Django, so analyzers are tested as pure
functions. `base` holds what they share: scores, the neutral band, the cost
model and the spec each one declares.
"""
