"""Training: one entry point (``ctxlearn.train.run.run_training``) over two paths: gradient steps on
transformers' Trainer (hf.py) or a head fitted on cached frozen features (features.py)."""
