"""A tiny greenlet actor runtime (knows nothing of Pusher).

Model: every piece of mutable state belongs to one `Actor` and is touched only by that actor's
greenlet, so no locks are needed. Others talk to it with `tell` (fire and forget) or `ask`
(wait for the answer, with a timeout). Messages wait in a deque mailbox, optionally bounded so
a flood raises `MailboxFull` at the sender instead of growing memory.

An actor holds a greenlet only while it has work: a tell to an idle actor spawns one, which
drains the mailbox in order and exits. Thousands of idle actors therefore cost no parked
greenlets. `tell_later` uses event-loop timers for the same reason.

Failures travel to whoever can act on them: an exception raised for an `ask` is re-raised in
the asker and the actor carries on; one raised for a `tell` is a crash, logged with the actor's
`state_summary()` and settled by its `Supervisor` (restart, or stop and tell the owner). A
crash never escapes the actor's greenlet.
"""

from actors.actor import Actor
from actors.errors import ActorDeadError, ActorError, AskTimeout, MailboxFull
from actors.supervision import RestartPolicy, Supervisor
from actors.timer import Cancellable

__all__ = [
    "Actor",
    "ActorDeadError",
    "ActorError",
    "AskTimeout",
    "Cancellable",
    "MailboxFull",
    "RestartPolicy",
    "Supervisor",
]
