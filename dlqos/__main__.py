import sys

from dlqos.cli import main

sys.exit(main())
