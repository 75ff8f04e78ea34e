"""Big jobs on Ray Data: the private half of `llmp.ray` (see that module)."""
