"""Who did what, through which channel, why, and as a result of what.

Every event Evident records carries an envelope. It is stored as columns beside the event
(not only inside its payload) so audits, timelines and as-of queries are index lookups.
The database adds ``recorded_at`` from its own clock; everything else comes from the
interface that received the command.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from uuid import UUID

from application.ids import new_id

ROLES = frozenset({"client", "agent", "auditor", "analyst", "admin", "system"})


class EnvelopeError(ValueError):
    """An envelope that would leave an event without a traceable origin."""


@dataclass(frozen=True)
class Envelope:
    """The context of one command; all events the command causes share it."""

    actor: str
    role: str
    channel: str
    reason: str | None = None
    command_id: UUID = field(default_factory=new_id)
    correlation_id: UUID | None = None
    causation_id: UUID | None = None

    def __post_init__(self) -> None:
        if not self.actor.strip():
            raise EnvelopeError("envelope.actor must not be empty")
        if self.role not in ROLES:
            msg = f"envelope.role must be one of {sorted(ROLES)}, got {self.role!r}"
            raise EnvelopeError(msg)
        if not self.channel.strip():
            raise EnvelopeError("envelope.channel must not be empty")
        if self.correlation_id is None:
            # A command that starts a conversation correlates with itself.
            object.__setattr__(self, "correlation_id", self.command_id)

    def with_reason(self, reason: str | None) -> Envelope:
        """The same context, with the reason a person gave for this particular command."""
        return replace(self, reason=reason)

    @classmethod
    def system(cls, channel: str = "system", reason: str | None = None) -> Envelope:
        """For work Evident does on its own behalf (demo data, migrations)."""
        return cls(actor="evident", role="system", channel=channel, reason=reason)
