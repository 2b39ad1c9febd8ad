"""``symcl demo``: the three domains end to end on shipped data, ending in a report.

Imported as ``symcl.demo`` (the folder is mapped like ``domains/``), and kept outside the
core because it uses all three domains::

    from symcl.demo import run_demo

    run_demo("symcl-demo", quick=True)   # symcl-demo/report.html, report.md, figures
"""

from .run import PARTS, run_demo

__all__ = ["PARTS", "run_demo"]
