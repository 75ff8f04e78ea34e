"""llmp plugin for OpenAI and OpenAI-compatible hosts."""
