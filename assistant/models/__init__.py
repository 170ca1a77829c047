"""The models wing: the interfaces, every model adapter, their loaders and the hub.

- ``interfaces``: the narrow protocols the rest of the program uses (speech to text, the text
  model and its per-conversation chat contexts, text to speech, end of turn, vision).
- Adapters, one module each: ``whisper`` (faster-whisper), ``piper``, ``smart_turn``,
  ``llama_chat`` (a chat context on llama.cpp weights), ``text`` (the local text model with
  its pool of contexts), ``remote`` (an OpenAI-compatible server), ``llava`` (vision) and
  ``seeing`` (a chat model that hands turns with a picture to the vision model).
- ``loaders``: how each role is loaded from the settings, the one place that does it.
- ``hub``: ``ModelHub``, which loads each model lazily and once, shares the weights, hands out
  per-conversation contexts and swaps or unloads models safely while they are in use.
"""
