"""The median stopping rule (as in Google Vizier): after its grace epochs, a trial whose validation
accuracy at an epoch is below the median of the other trials' accuracies at that same epoch is
stopped. Needs at least two others to have reached the epoch, so early trials are judged fairly."""

from __future__ import annotations

import statistics
import threading

MIN_PEERS = 2


class MedianStopping:
    def __init__(self, grace_epochs: int) -> None:
        self.grace_epochs = grace_epochs
        self.curves: dict[int, dict[int, float]] = {}  # trial -> epoch -> validation accuracy
        self.lock = threading.Lock()

    def observe(self, trial: int, epoch: int, accuracy: float) -> bool:
        """Record a trial's score at an epoch; True when that trial should stop now."""
        with self.lock:
            self.curves.setdefault(trial, {})[epoch] = accuracy
            if epoch < self.grace_epochs:
                return False
            peers = [curve[epoch] for other, curve in self.curves.items() if other != trial and epoch in curve]
            return len(peers) >= MIN_PEERS and accuracy < statistics.median(peers)


class NoStopping:
    def __init__(self, grace_epochs: int) -> None:
        return None

    def observe(self, trial: int, epoch: int, accuracy: float) -> bool:
        return False


STOPPING_RULES: dict[str, type[MedianStopping] | type[NoStopping]] = {"median": MedianStopping, "none": NoStopping}
