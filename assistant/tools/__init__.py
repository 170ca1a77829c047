"""Tools the assistant can use in a spoken turn: built-in ones and those of MCP servers.

``toolbox.py`` holds them and runs a call safely (arguments checked against the tool's schema,
a time limit, an error result instead of an exception); ``router.py`` is the deterministic
pre-check that recognises the common requests; ``setup.py`` builds the toolbox the settings
ask for. Which tools a turn may call, step by step, is ``policy.py``; the LLM stage runs the calls.
"""
