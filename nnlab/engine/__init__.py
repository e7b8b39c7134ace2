"""The UI-free engine: graph building, ops, running, tracing. Imports neither textual nor rich."""
