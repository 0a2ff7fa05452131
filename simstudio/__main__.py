import sys

from simstudio.cli import main

sys.exit(main())
