"""``/v1/realtime``: the OpenAI Realtime API over the voice conversation."""
