"""newsqa's eval harness: run a JSONL question set through the chain and score it.

``python -m eval run`` and ``python -m eval compare``; see ``cli.py``. Scoring is in
``scoring.py``, reports in ``report.py``.
"""
