"""``/ws/voice``: the voice page's conversation over a WebSocket."""
