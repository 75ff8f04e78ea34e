"""llmp plugin for Google Gemini (google-genai, native API)."""
