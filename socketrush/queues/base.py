"""The queue interface: fire-and-forget job submission, processed by background workers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of background work, e.g. one webhook request for one app."""

    kind: str
    app_id: str
    payload: bytes


Handler = Callable[[Job], None]


class Queue(ABC):
    """`push` never blocks the caller; `start` attaches the handler that processes jobs."""

    @abstractmethod
    def start(self, handler: Handler) -> None: ...

    @abstractmethod
    def push(self, job: Job) -> None: ...

    @abstractmethod
    def stop(self, timeout: float) -> None: ...
