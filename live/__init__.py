"""The live app's parts: sources, frame buffers, gesture events, bindings, record mode, exported models."""
