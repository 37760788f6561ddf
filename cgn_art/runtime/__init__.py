"""The runtime for long work: the job queue and its worker processes (:mod:`~cgn_art.runtime.jobs`),
the app's heavy jobs (:mod:`~cgn_art.runtime.heavy_jobs`), per-session folders
(:mod:`~cgn_art.runtime.workspace`), crash diagnostics (:mod:`~cgn_art.runtime.diagnostics`), and
progress and cancellation (:mod:`~cgn_art.runtime.progress`).

Nothing is imported here: a library module imports ``cgn_art.runtime.progress`` without pulling in
the job queue.
"""
