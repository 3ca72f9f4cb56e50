"""gunicorn settings for the web process: https://docs.gunicorn.org/en/stable/settings.html"""
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# The re-rank endpoint is CPU-bound, so one process per core, plus one for I/O waits.
workers = int(os.environ.get("WEB_CONCURRENCY", (os.cpu_count() or 1) + 1))
# Threads per process (gthread): live lists that a process's requests need at once are scored in one model
# call (reranking/services/batching.py), 2.4 ms a history in a batch of 4 against 5.8 ms alone. 4 takes
# most of that gain (8 only gets to 1.8 ms) and lets a process overlap its database and cache waits,
# while keeping WEB_CONCURRENCY x 4 database connections per host. 1 gives sync workers.
threads = int(os.environ.get("WEB_THREADS", 4))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", 60))
accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
# Each worker caps torch at one thread per call; several workers already use every core.
raw_env = ["OMP_NUM_THREADS=1"]
