"""`python -m tf_freezer ...`: the same as the `tf-freezer` command."""
import sys

from tf_freezer.gui.launch import main

sys.exit(main())
