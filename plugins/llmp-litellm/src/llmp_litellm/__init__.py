"""llmp plugin for Anthropic and every other provider litellm speaks (the catch-all route)."""
