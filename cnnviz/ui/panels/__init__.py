"""One module per panel; each panel draws from a Snapshot and emits what the user asks for."""
