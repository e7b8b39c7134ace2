"""Turning engine data into rich Text, shared by the CLI and the TUI (imports rich)."""
