"""Issue 18's events on the chat's messages, in one place for the chat server: their
handlers (edits and deletes, reactions, search) and how a node shows an edit or a reaction
change (an effect, applied on every node as moderation's are)."""

from collections.abc import Callable, MutableSequence
from typing import Any

from minidiscord.limits import Rate

from .edits import EditEvents, EditSide, edited, replace_recent
from .models import Message
from .moderation.effects import Do
from .reactions.events import ReactionEvents, reaction_update, replace_reactions
from .reactions.store import ReactionStore
from .requests import ChannelAccess, Handler
from .search.events import SearchEvents
from .search.store import MessageSearch
from .store.base import Store


def message_handlers(
    chat: EditSide,
    store: Store,
    reactions: ReactionStore,
    search: MessageSearch,
    channels: ChannelAccess,
    *,
    clock: Callable[[], int],
    send_rate: Rate | None,
    read_rate: Rate | None,
    moderators_delete: Handler | None,
) -> dict[str, Handler]:
    """Every handler, by event. Edits and reactions cost what a send does, a search what a
    history page does; someone else's `message:delete` goes on to ``moderators_delete``."""
    edits = EditEvents(
        chat, store, channels, clock=clock, rate=send_rate, moderators_delete=moderators_delete
    )
    return {
        **edits.handlers(),
        **ReactionEvents(chat, store, reactions, channels, rate=send_rate).handlers(),
        **SearchEvents(search, channels, rate=read_rate).handlers(),
    }


def shown_change(
    effect: dict[str, Any], recent: MutableSequence[Message]
) -> tuple[str, dict[str, Any]] | None:
    """An ``edit`` or ``react`` effect applied to ``recent`` (the channel's last broadcasts):
    the event and payload to send the channel, or None when the effect is malformed."""
    if effect.get("do") == Do.EDIT and (edit := edited(effect)) is not None:
        replace_recent(recent, edit)
        return "message:edit", edit
    if effect.get("do") == Do.REACT and (update := reaction_update(effect)) is not None:
        replace_reactions(recent, update)
        return "reaction:update", update
    return None
