import sys

from mathreward.cli import main

sys.exit(main())
