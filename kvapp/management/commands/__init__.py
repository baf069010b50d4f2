"""Django discovers kv_export and kv_import here."""
