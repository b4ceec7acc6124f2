"""Signs of life within a long epoch, for ``verbose`` fits.

An epoch of a million rows can take minutes. :class:`EpochProgress` reports
the rows done, the rows per second and the time left, once an epoch has run
for :data:`REPORT_EVERY` seconds: as a tqdm bar when tqdm is installed and the
output is a terminal, else as a plain line every :data:`REPORT_EVERY` seconds.
"""

import sys
import time

__all__ = ["EpochProgress", "REPORT_EVERY"]

# Seconds an epoch runs before its progress is shown, and between plain lines.
REPORT_EVERY = 5.0


def _tqdm():
    """tqdm's class when it is installed and stdout is a terminal, else None."""
    if not sys.stdout.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class EpochProgress:
    """Called with the rows done so far; reports when the epoch runs long.

    Parameters
    ----------
    epoch : int
        The epoch's number (1-based), for the report.
    total : int
        Rows in the epoch (of every process).
    """

    def __init__(self, epoch, total):
        self.epoch, self.total = epoch, total
        self.start = self.last = time.perf_counter()
        self.bar, self.shown = None, 0

    def __call__(self, done):
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.update(done - self.shown)
            self.shown = done
            return
        if now - self.last < REPORT_EVERY:
            return
        self.last = now
        tqdm = _tqdm()
        if tqdm is not None:
            self.bar = tqdm(total=self.total, initial=done, unit="rows",
                            desc=f"Epoch {self.epoch}", leave=False)  # fmt: skip
            self.shown = done
            return
        rate = done / max(now - self.start, 1e-9)
        left = (self.total - done) / max(rate, 1e-9)
        print(
            f"Epoch {self.epoch}: {done:,} of {self.total:,} rows, "
            f"{rate:,.0f} rows/s, about {left:.0f} s left",
            flush=True,
        )

    def close(self):
        """End the bar, if any; returns the epoch's seconds."""
        if self.bar is not None:
            self.bar.close()
        return time.perf_counter() - self.start
