"""The Actor base class: a mailbox drained by a greenlet that exists only while there is work."""

from __future__ import annotations

import enum
import itertools
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Self

import gevent
from gevent.event import AsyncResult, Event

from actors import census
from actors.errors import ActorDeadError, AskTimeout, MailboxFull
from actors.runners import run_soon
from actors.supervision import RestartPolicy, Supervisor
from actors.timer import Cancellable

if TYPE_CHECKING:
    from greenlet import greenlet

logger = logging.getLogger("actors")

_ids = itertools.count(1)

# A queued message and, for an ask, where its answer goes.
_Envelope = tuple[object, AsyncResult | None]


class _State(enum.Enum):
    NEW = "new"  # created; tells queue up until start()
    RUNNING = "running"
    STOPPING = "stopping"  # refuses new messages; drains or drops what is queued
    STOPPED = "stopped"  # on_stop ran (or is running); join() returns once it is done


# The states as module globals: a member looked up on its enum class costs ~1,000
# instructions (CPython 3.11), a global a few dozen, and every tell tests the state.
_NEW, _RUNNING, _STOPPING, _STOPPED = _State.NEW, _State.RUNNING, _State.STOPPING, _State.STOPPED
_ENDING = (_STOPPING, _STOPPED)  # refusing messages


class Actor:
    """Subclass and override receive(). State lives in attributes of the subclass and is
    touched only by the actor's own greenlet (receive and the hooks), so it needs no locks.

    The actor holds a greenlet only while its mailbox has work: a tell to an idle actor takes
    one (see actors/runners.py), which handles messages in FIFO order and is let go when the
    mailbox is empty. There is at
    most one such greenlet at a time, so receive() is never re-entered. All methods must be
    called from greenlets of the same thread and hub.
    """

    def __init__(
        self,
        *,
        mailbox_size: int | None = None,
        name: str | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        if mailbox_size is not None and mailbox_size < 1:
            raise ValueError("mailbox_size must be >= 1 or None")
        self.name = name or f"{type(self).__name__}-{next(_ids)}"
        self.supervisor = supervisor
        self._mailbox_size = mailbox_size
        self._mailbox: deque[_Envelope] = deque()
        self._state = _NEW
        self._greenlet: greenlet | None = None
        self._on_start_pending = False
        self._fatal_error: BaseException | None = None  # set when a STOP decision ends us
        self._timers: set[Cancellable] = set()
        self._done = Event()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name!r} {self._state.value} "
            f"mailbox={len(self._mailbox)}>"
        )

    # -- public API --

    def start(self) -> Self:
        """Mark the actor alive and schedule on_start(), which runs before any message."""
        if self._state is not _NEW:
            raise RuntimeError(f"{self!r} cannot be started twice")
        self._state = _RUNNING
        self._on_start_pending = True
        census.track(self)
        self._spawn()
        return self

    def tell(self, message: object) -> bool:
        """Queue `message` without waiting. False if the actor is stopping or stopped.

        Raises MailboxFull if the mailbox is bounded and full. Before start() the message
        waits in the mailbox.
        """
        if self._state in _ENDING:
            return False
        self._enqueue((message, None))
        return True

    def tell_inline(self, message: object) -> bool:
        """Like tell(), but an idle actor (running, nothing queued, no greenlet) handles
        `message` at once in the caller's greenlet, saving the hand-over to a runner and two
        greenlet switches. Order and "one message at a time" hold as with tell(): nothing is
        ahead of it, and while it is handled the caller's greenlet counts as the actor's, so
        tells from inside queue behind it. The caller waits meanwhile: use it where receive()
        does not block (a channel relaying a client event).
        """
        busy = self._greenlet is not None or self._mailbox or self._on_start_pending
        if busy or self._state is not _RUNNING:
            return self.tell(message)
        self._greenlet = current = gevent.getcurrent()
        try:
            self._handle(message, None)
        finally:
            if self._greenlet is current:
                self._greenlet = None
                if self._mailbox or self._state is _STOPPING:
                    self._spawn()  # what was told meanwhile, or on_stop, runs in a runner
        return True

    def ask(self, message: object, timeout: float = 5.0) -> object:
        """Return what receive(message) returns, or raise what it raised.

        An exception raised by receive() for an ask is the asker's problem, not a crash: the
        actor keeps its state and goes on. Raises AskTimeout after `timeout` seconds (the
        message may still be handled later), ActorDeadError if the actor is or gets stopped
        before answering, MailboxFull like tell(), and RuntimeError when called from the
        actor's own greenlet, where waiting for itself would deadlock.
        """
        if gevent.getcurrent() is self._greenlet:
            raise RuntimeError(f"{self.name} cannot ask itself: it would deadlock")
        if self._state in _ENDING:
            raise ActorDeadError(f"{self.name} is stopped")
        reply = AsyncResult()
        self._enqueue((message, reply))
        reply.wait(timeout)
        if not reply.ready():
            raise AskTimeout(
                f"{self.name} did not answer {type(message).__name__} within {timeout:g}s"
            )
        return reply.get(block=False)

    def stop(self, *, drain: bool = False) -> None:
        """Stop without waiting for it (see join()). Idempotent.

        drain=False drops queued messages (their asks fail with ActorDeadError); drain=True
        handles everything already queued first. Either way new messages are refused at once
        and pending tell_later timers are cancelled. on_stop() runs in the actor's greenlet,
        or right here if the actor has none. An actor that was never started has no hooks to
        run and nothing to drain: its queued asks fail.
        """
        if self._state in _ENDING:
            return
        for handle in list(self._timers):
            handle.cancel()
        if self._state is _NEW:
            self._fail_pending()
            self._state = _STOPPED
            self._done.set()
            return
        self._state = _STOPPING
        if not drain:
            self._fail_pending()
        if self._greenlet is None:
            self._finish()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the actor is fully stopped (on_stop done); False if `timeout` passed."""
        if gevent.getcurrent() is self._greenlet:
            raise RuntimeError(f"{self.name} cannot join itself: it would deadlock")
        return self._done.wait(timeout)

    @property
    def idle(self) -> bool:
        """Running with nothing to do: no greenlet at work, nothing queued (when tell_inline
        handles a message at once). Only then may a subclass offer a shortcut that reads its
        state from another greenlet, in a step that does not yield."""
        return (
            self._greenlet is None
            and not self._mailbox
            and not self._on_start_pending
            and self._state is _RUNNING
        )

    @property
    def is_alive(self) -> bool:
        """True between start() and stop()."""
        return self._state is _RUNNING

    @property
    def failure(self) -> BaseException | None:
        """The crash that stopped the actor (its supervisor chose to stop it); None while it
        runs and when it was stopped on request. Set before on_stop runs."""
        return self._fatal_error

    @property
    def mailbox_depth(self) -> int:
        """Messages queued and not yet taken by the actor's greenlet."""
        return len(self._mailbox)

    def take_queued(self, accept: Callable[[object], bool], limit: int) -> list[object]:
        """For receive(): remove and return the tells queued right behind the current message
        while `accept` holds for them (at most `limit`), so a run of like messages can be
        handled as one. Stops at the first ask or refused message, which keeps FIFO order.
        """
        mailbox = self._mailbox
        taken: list[object] = []
        while mailbox and len(taken) < limit:
            message, reply = mailbox[0]
            if reply is not None or not accept(message):
                break
            mailbox.popleft()
            taken.append(message)
        return taken

    def tell_later(self, delay: float, message: object) -> Cancellable:
        """Tell `message` after `delay` seconds, from a loop timer (no greenlet waits).

        If the mailbox is full when the timer fires, the message is dropped with a warning.
        Stopping the actor cancels its pending timers.
        """
        if self._state in _ENDING:
            return Cancellable()
        handle = Cancellable.after(
            delay, lambda: self._deliver_later(message), on_release=self._timers.discard
        )
        self._timers.add(handle)
        return handle

    # -- hooks for subclasses --

    def receive(self, message: object) -> object:
        """Handle one message; the return value answers an ask."""
        raise NotImplementedError(f"{type(self).__name__} must override receive()")

    def on_start(self) -> None:
        """Runs in the actor's greenlet before the first message."""

    def on_stop(self) -> None:
        """Runs once when the actor stops, after the last message it handles."""

    def on_restart(self, error: BaseException) -> None:
        """Runs after a crash the actor survives: reset state that may be half-updated."""

    def on_dropped(self, message: object) -> None:
        """A told message that stopping dropped unhandled (stop without drain, or a crash
        the supervisor settled with a stop). Its sender was told nothing: override to hand
        back what it asked for (a channel tells a socket whose join it never answered to
        reconnect). Runs in whichever greenlet stopped the actor; must not block."""

    def state_summary(self) -> str:
        """One line describing the state, written to the log when the actor crashes."""
        return repr(self)

    # -- internals --

    def _enqueue(self, envelope: _Envelope) -> None:
        if self._mailbox_size is not None and len(self._mailbox) >= self._mailbox_size:
            raise MailboxFull(f"{self.name}: mailbox full ({self._mailbox_size} messages)")
        self._mailbox.append(envelope)
        if self._greenlet is None and self._state is _RUNNING:
            self._spawn()

    def _spawn(self) -> None:
        # A reused raw greenlet: no Greenlet bookkeeping (links, spawn tree), no new frame stack.
        self._greenlet = run_soon(self._run)

    def _run(self) -> None:
        try:
            if self._on_start_pending:
                self._on_start_pending = False
                try:
                    self.on_start()
                except Exception as error:
                    self._crashed(error, "on_start", None)
            while self._mailbox:
                message, reply = self._mailbox.popleft()
                self._handle(message, reply)
            if self._state is _STOPPING:
                self._finish()
        finally:
            # Checking the mailbox and clearing the slot happen without a yield in between, so
            # a tell can never find a greenlet that is about to exit without reading it.
            self._greenlet = None
            # Only true if the greenlet was killed mid-work: carry on in a fresh one.
            if (self._state is _RUNNING and self._mailbox) or self._state is _STOPPING:
                self._spawn()

    def _handle(self, message: object, reply: AsyncResult | None) -> None:
        try:
            result = self.receive(message)
        except Exception as error:
            if reply is None:
                self._crashed(error, type(message).__name__, message)
            else:
                logger.debug(
                    "%s: %s raised to its asker: %r", self.name, type(message).__name__, error
                )
                reply.set_exception(error)
        else:
            if reply is not None:
                reply.set(result)

    def _crashed(self, error: Exception, what: str, message: object) -> None:
        try:
            summary = self.state_summary()
        except Exception as summary_error:
            summary = f"<state_summary failed: {summary_error!r}>"
        logger.error(
            "actor %s crashed handling %s; state: %s", self.name, what, summary, exc_info=error
        )
        if self._decide(error, message) is RestartPolicy.RESTART:
            try:
                self.on_restart(error)
            except Exception:
                logger.exception("actor %s: on_restart failed", self.name)
        else:
            self._fatal_error = error
            self.stop()
            self._fail_pending()  # also when the crash happened while draining

    def _decide(self, error: Exception, message: object) -> RestartPolicy:
        if self.supervisor is None:
            return RestartPolicy.RESTART
        try:
            return self.supervisor.child_failed(self, error, message)
        except Exception:
            logger.exception("actor %s: supervisor failed to decide; restarting", self.name)
            return RestartPolicy.RESTART

    def _finish(self) -> None:
        self._state = _STOPPED
        try:
            try:
                self.on_stop()
            except Exception:
                logger.exception("actor %s: on_stop failed", self.name)
            if self._fatal_error is not None and self.supervisor is not None:
                try:
                    self.supervisor.child_stopped(self, self._fatal_error)
                except Exception:
                    logger.exception("actor %s: supervisor child_stopped failed", self.name)
        finally:
            census.forget(self)
            self._done.set()

    def _fail_pending(self) -> None:
        while self._mailbox:
            message, reply = self._mailbox.popleft()
            if reply is not None:
                reply.set_exception(
                    ActorDeadError(f"{self.name} stopped before handling {type(message).__name__}")
                )
                continue
            try:
                self.on_dropped(message)
            except Exception:
                logger.exception("actor %s: on_dropped failed", self.name)

    def _deliver_later(self, message: object) -> None:
        # Runs in the hub: it must neither block nor raise.
        try:
            self.tell(message)
        except MailboxFull:
            logger.warning(
                "actor %s: mailbox full, dropped delayed %s", self.name, type(message).__name__
            )
