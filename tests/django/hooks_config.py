"""``CHATCORE["HOOKS"]`` for the Django hook tests: ChatBoard's hooks (emails, the dice bot) and a
message hook that masks ``darn`` and refuses ``spam``."""

from __future__ import annotations

from board.hooks import install as install_chatboard  # type: ignore[import-not-found]

from chatcore.hooks import Draft, Hooks, MessageRejected


async def words(draft: Draft) -> Draft | None:
    if "spam" in draft.text:
        raise MessageRejected("no spam here, please", reason="spam")
    if "darn" in draft.text:
        return draft.evolve(text=draft.text.replace("darn", "d**n"))
    return None


def install(hooks: Hooks) -> None:
    install_chatboard(hooks)
    hooks.add_message_hook(words)
