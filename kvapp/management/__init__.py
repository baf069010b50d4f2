"""kvstore management commands: moving a store between backends (kv_export, kv_import)."""
