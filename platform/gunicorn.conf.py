"""gunicorn settings for the web process: https://docs.gunicorn.org/en/stable/settings.html"""
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Sync workers: the re-rank endpoint is CPU-bound, so one process per core, plus one for I/O waits.
workers = int(os.environ.get("WEB_CONCURRENCY", (os.cpu_count() or 1) + 1))
threads = int(os.environ.get("WEB_THREADS", 1))
timeout = int(os.environ.get("WEB_TIMEOUT", 60))
accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
# Each worker caps torch at one thread; several workers already use every core.
raw_env = ["OMP_NUM_THREADS=1"]
