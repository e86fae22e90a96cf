import sys

from synclab.commands.cli import main

sys.exit(main())
