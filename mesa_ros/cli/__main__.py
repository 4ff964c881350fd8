"""``python -m mesa_ros.cli`` = ``mesa-ros``."""
import sys

from mesa_ros.cli import main

sys.exit(main())
