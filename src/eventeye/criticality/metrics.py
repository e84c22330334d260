"""Prometheus metrics of the criticality module, served on ``/metrics``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import Counter, Gauge

from eventeye.criticality.repository import State

UPDATES = Counter("eventeye_criticality_updates_total", "Status changes received, by producer app", ["app"])
POLLS = Counter(
    "eventeye_criticality_polls_total",
    "Polls of GET /secapp/update, by consumer app and outcome (state or empty)",
    ["app", "outcome"],
)
LATEST_STATUS = Gauge("eventeye_criticality_latest_status", "current_status of the latest known state")
LATEST_ID = Gauge("eventeye_criticality_latest_change_id", "processed_id of the latest known state")

MAX_APP_LABELS = 1000
OTHER_APPS = "_other"
_app_labels: set[str] = set()


def app_label(name: str) -> str:
    """``name`` as a label value; past ``MAX_APP_LABELS`` names, new ones share one label.

    App names come from a header, so with a shared token their number is the
    callers' choice; this bounds the series they can create.
    """
    if name in _app_labels:
        return name
    if len(_app_labels) >= MAX_APP_LABELS:
        return OTHER_APPS
    _app_labels.add(name)
    return name


@dataclass
class LatestGauge:
    """Moves the latest-state gauges forward only: states are offered in any order."""

    _known: tuple[datetime, int] | None = field(default=None)

    def offer(self, state: State | None) -> None:
        if state is None:
            return
        key = (state.change_at, state.id)
        if self._known is not None and key <= self._known:
            return
        self._known = key
        LATEST_STATUS.set(state.current_status)
        LATEST_ID.set(state.id)
