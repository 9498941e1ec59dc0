"""curata: turn a list of class names into a clean, reviewed, versioned image-classification dataset.

import curata as cu
project = cu.open("my-project")
project.import_folder("photos/")
"""

from curata.errors import CurataError
from curata.project import Project, init_project, open_project

__version__ = "0.1.0"

open = open_project  # noqa: A001 - `cu.open(path)` reads naturally
init = init_project

__all__ = ["CurataError", "Project", "init", "open", "__version__"]
