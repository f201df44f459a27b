"""Exceptions raised by the actor runtime to the code that talks to an actor."""


class ActorError(Exception):
    """Base class, so callers can catch every runtime failure with one clause."""


class AskTimeout(ActorError, TimeoutError):
    """An ask got no answer in time; the message may still be handled later."""


class ActorDeadError(ActorError):
    """The actor is stopped, or stopped before it handled the message."""


class MailboxFull(ActorError):
    """A bounded mailbox refused a message: the sender must shed load, not wait."""
