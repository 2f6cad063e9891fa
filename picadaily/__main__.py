import sys

from picadaily.cli import main

sys.exit(main())
