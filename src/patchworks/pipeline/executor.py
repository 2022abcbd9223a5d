"""Where a local run's per-tile jobs run: in this process, in a thread or process pool, or on a
dask.distributed client; with a progress bar per step, and tile logging switched on or off."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

TILE_LOGGER = "patchworks.segment.stage"  # the stage step logs each tile's location and shape here


class Tasks:
    """Runs one step over many argument tuples, waiting for all of them; the first error is raised."""

    def __init__(self, workers: int = 1, client: Any = None, progress: bool = False) -> None:
        self.workers = workers
        self.client = client
        self.progress = progress

    def map(self, step: Callable[..., None], args: Iterable[tuple[Any, ...]], desc: str, *,
            threads: bool = False, workers: int | None = None) -> None:
        args = list(args)
        workers = self.workers if workers is None else workers
        from tqdm.auto import tqdm

        with tqdm(total=len(args), desc=desc, unit="tile", disable=not self.progress or not args) as bar:
            if self.client is not None:
                done = self._on_client(step, args)
            elif workers <= 1 or len(args) <= 1:
                done = self._here(step, args)
            else:
                done = self._in_pool(step, args, ThreadPoolExecutor if threads else ProcessPoolExecutor,
                                     workers)
            for _ in done:
                bar.update()

    @staticmethod
    def _here(step: Callable[..., None], args: list[tuple[Any, ...]]) -> Iterator[None]:
        for a in args:
            step(*a)
            yield None

    @staticmethod
    def _in_pool(step: Callable[..., None], args: list[tuple[Any, ...]], pool_class: type,
                 workers: int) -> Iterator[None]:
        with pool_class(min(workers, len(args))) as pool:
            futures = [pool.submit(step, *a) for a in args]
            try:
                for f in as_completed(futures):
                    f.result()
                    yield None
            finally:
                for f in futures:
                    f.cancel()

    def _on_client(self, step: Callable[..., None], args: list[tuple[Any, ...]]) -> Iterator[None]:
        from distributed import as_completed as completed

        futures = [self.client.submit(step, *a, pure=False) for a in args]
        try:
            for f in completed(futures):
                f.result()
                yield None
        finally:
            self.client.cancel(futures)

    def share(self, obj: Any) -> Any:
        """``obj`` as the jobs should receive it: sent to the client's workers once, if there is one."""
        if self.client is None or obj is None:
            return obj
        return self.client.scatter(obj, broadcast=True, hash=False)


class _BarSafeHandler(logging.Handler):
    """Writes records to stderr above any progress bar (``tqdm.write``), not into it."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm.auto import tqdm

        tqdm.write(self.format(record), file=sys.stderr)


def set_tile_logging(enabled: bool) -> None:
    """Log (to stderr) or silence the stage step's line per tile, in this process."""
    logger = logging.getLogger(TILE_LOGGER)
    logger.setLevel(logging.INFO if enabled else logging.WARNING)
    ours = [h for h in logger.handlers if isinstance(h, _BarSafeHandler)]
    if enabled and not ours:
        handler = _BarSafeHandler()
        handler.setFormatter(logging.Formatter("patchworks: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    elif not enabled:
        for h in ours:
            logger.removeHandler(h)
        logger.propagate = True


@contextmanager
def tile_logging(enabled: bool, client: Any = None) -> Iterator[None]:
    """Tile logging on or off for a run (here, and on the client's workers), restored afterwards here."""
    logger = logging.getLogger(TILE_LOGGER)
    saved = logger.level, logger.propagate, list(logger.handlers)
    set_tile_logging(enabled)
    if client is not None:
        client.run(set_tile_logging, enabled)
    try:
        yield
    finally:
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers[:] = saved[2]
