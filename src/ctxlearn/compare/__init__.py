"""``ctxlearn compare``: every method on the same splits and budget, mean ± std over seeds, one report."""
