"""core: the pure pipeline (decode → validate → match → score → aggregate); no I/O, no clock."""
