"""Scans running in the API process: each on its own thread, stopped on shutdown.

On the embedded default this is the job runner; the watchers issue moves jobs to workers.
"""

import threading
import uuid
from pathlib import Path

from sqlalchemy import Engine

from app.auth.actor import Actor
from app.sightings.index import IndexHolder
from app.sightings.service import run_scan_job


class ScanJobs:
    """The scans running in this process, each on its own thread, stopped on shutdown."""

    def __init__(self, holder: IndexHolder) -> None:
        self.holder = holder
        self.stop = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def start(self, engine: Engine, actor: Actor, scan_id: uuid.UUID, path: Path) -> None:
        def run() -> None:
            try:
                run_scan_job(engine, self.holder, actor, scan_id, path, stop=self.stop)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"scan-{scan_id}", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
