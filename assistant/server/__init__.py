"""The local HTTP server: native REST + SSE API and an OpenAI-compatible API."""
