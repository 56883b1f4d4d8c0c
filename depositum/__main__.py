import sys

from depositum.cli import main

sys.exit(main())
