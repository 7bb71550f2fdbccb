"""Benchmarks of the LeNet-5 teaching app (never timed tests).

Each module measures one thing; its ``run()`` returns data (``bench.common.result``: the
targets, the tables and sentences of its section, its numbers) and ``bench.report``, the
one renderer, turns that into markdown. ``python -m bench.run_all`` (``make bench``) runs
them all and rewrites bench/RESULTS.md. Every script takes ``--quick`` for its small
settings (the module's QUICK) and each keyword of its run() as an option
(``bench.common.cli``); make bench runs run() with its defaults.

    python -m bench.accuracy      # test error of each shipped checkpoint vs LeCun et al. 1998
    python -m bench.train_speed   # our training loop vs a per-sample DataLoader baseline
    python -m bench.latency       # canvas -> prediction latency, forward pass, batch throughput
    python -m bench.rerun         # the draw page's rerun under AppTest, figure bytes
    python -m bench.browser       # mouse-up -> prediction visible in Chromium
    python -m bench.memory        # server RSS after start and with 10 sessions
    python -m bench.load          # N concurrent browser sessions (the fault run: run_all --only fault)
"""
