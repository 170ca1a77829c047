"""Piper-spoken turns that widen the end-of-turn features' tuning set beyond 12 recordings.

Each text is a whole turn; ``cuts`` are the word indices after which the speaker stops for a
while mid-sentence (the ``PAUSED`` style of bench/turns.py): the words before a cut end on an
unfinished thought. Short complete utterances ("Yes.", "Thanks.") have no cut: they are the
turns a pause-only rule is slow on, and a text opinion should find finished at once.
"""

from __future__ import annotations

import zlib

PAUSE_RANGE_S = (0.4, 1.2)

SHORT = [
    "Hello world.",
    "Thanks.",
    "Yes.",
    "No.",
    "Stop.",
    "Good morning.",
    "Okay.",
    "Thank you very much.",
    "Never mind.",
    "Good night.",
    "Sure, go ahead.",
    "That's all.",
    "What time is it?",
    "Turn it off.",
    "Pause the music.",
    "How are you?",
]

# (text, word indices after which the speaker pauses)
CUT = [
    ("Tell me about the history of Rome.", (3,)),
    ("I would like to know the capital of France.", (4,)),
    ("Can you tell me how far away the moon is?", (4,)),
    ("What should I cook for dinner tonight?", (4,)),
    ("Please explain why the sky is blue.", (3,)),
    ("How many legs does a spider have?", (4,)),
    ("Give me a tip for sleeping better.", (3,)),
    ("Set a timer for ten minutes.", (3,)),
    ("Remind me to call my mother tomorrow morning.", (2, 5)),
    ("What is the weather going to be like this weekend?", (2, 6)),
    ("Play some music by the Beatles.", (3,)),
    ("Turn off the lights in the kitchen.", (3,)),
    ("Can you recommend a good book about space?", (4,)),
    ("Write a short poem about the ocean and the wind.", (4, 7)),
    ("How long does it take to boil an egg?", (3,)),
    ("What is the difference between a frog and a toad?", (4,)),
    ("Send a message to Anna saying I will be late.", (4, 6)),
    ("Convert fifty miles to kilometres.", (2,)),
    ("Who wrote the novel Pride and Prejudice?", (3,)),
    ("Add milk and eggs to my shopping list.", (2, 4)),
    ("Why do cats purr when they are happy?", (3,)),
    ("Translate good morning into Spanish.", (2,)),
    ("What is seven times eight?", (3,)),
    ("I need a recipe with chicken and rice.", (3, 5)),
    ("Could you summarise the news for me?", (2,)),
    ("Explain how a rainbow forms after the rain.", (2, 5)),
    ("Find me a quiet place to study near the station.", (3, 6)),
    ("What do you know about black holes?", (4,)),
    ("Open the window and let some fresh air in.", (2, 4)),
    ("My favourite colour is blue, what is yours?", (3,)),
    ("Is it going to rain in London tomorrow?", (4,)),
    ("Tell me a joke about computers.", (3,)),
    ("When does the next train to Paris leave?", (4,)),
    ("Spell the word necessary for me.", (1,)),
    ("What is the tallest mountain in the world?", (3, 5)),
    ("Start a timer and call it pasta.", (3,)),
]


def pauses(text: str, cuts: tuple[int, ...]) -> list[float]:
    """A seeded pause (seconds) for each cut, in PAUSE_RANGE_S, the same on every run."""
    seed = zlib.crc32(text.encode())
    low, high = PAUSE_RANGE_S
    return [
        round(low + (high - low) * ((seed >> (8 * k)) % 256) / 255, 2) for k in range(len(cuts))
    ]
