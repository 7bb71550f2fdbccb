"""Benchmarks of the LeNet-5 teaching app (never timed tests).

Each module measures one thing (its docstring says what and how; bench.run_all.ORDER lists
them); its ``run()`` returns data (``bench.common.result``: the targets, the tables and
sentences of its section, its numbers) and ``bench.report``, the one renderer, turns that
into markdown. ``python -m bench.run_all`` (``make bench``) runs them all and rewrites
bench/RESULTS.md. Every script takes ``--quick`` for its small settings (the module's
QUICK) and each keyword of its run() as an option (``bench.common.cli``); make bench runs
run() with its defaults.
"""
