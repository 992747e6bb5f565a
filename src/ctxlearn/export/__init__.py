"""``ctxlearn export``: deployable copies of run folders (int8), with a measured report.

``quantize`` (the int8 engines, used when an exported folder is loaded) and ``run`` (the command) are
imported where needed: neither is imported here, so the CLI starts without torch.
"""
