"""Benchmarks in the papers' formats: ``medden benchmark``.

One job per module: :mod:`~medden.bench.config` (the options), :mod:`~medden.bench.data`
(clean images), :mod:`~medden.bench.conditions` (noises and levels),
:mod:`~medden.bench.methods` (``--models`` entries), :mod:`~medden.bench.oracle` (per-image
oracle tuning), :mod:`~medden.bench.runner` (the scoring loop), :mod:`~medden.bench.tables`,
:mod:`~medden.bench.curves`, :mod:`~medden.bench.cost_table`,
:mod:`~medden.bench.qualitative`, :mod:`~medden.bench.report` (the outputs) and
:mod:`~medden.bench.suite` (:func:`~medden.bench.suite.run_benchmark`, a whole run).
Nothing is imported here, so the CLI can read the options without loading the rest.
"""
