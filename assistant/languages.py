"""Languages by their codes (as Whisper reports them), for replies in the user's language."""

from __future__ import annotations

NAMES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
    "nl": "Dutch", "pt": "Portuguese", "zh": "Chinese", "ja": "Japanese", "ko": "Korean",
    "ru": "Russian", "pl": "Polish", "uk": "Ukrainian", "tr": "Turkish", "sv": "Swedish",
    "da": "Danish", "no": "Norwegian", "fi": "Finnish", "cs": "Czech", "el": "Greek",
    "ar": "Arabic", "hi": "Hindi", "vi": "Vietnamese", "ca": "Catalan", "ro": "Romanian",
    "hu": "Hungarian",
}  # fmt: skip


def reply_instruction(code: str) -> str:
    """What the system prompt gains so the reply is in language ``code``."""
    name = NAMES.get(code)
    return f"Answer in {name}." if name else f"Answer in the language whose code is {code!r}."
