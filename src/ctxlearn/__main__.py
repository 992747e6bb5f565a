import sys

from ctxlearn.cli import main

sys.exit(main())
