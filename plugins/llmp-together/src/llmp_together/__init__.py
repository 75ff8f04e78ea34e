"""llmp plugin for Together AI."""
