"""Build the compiled hot path (barfinex/_fast) with Cython.

Every ``barfinex/_fast/*.pyx`` becomes one extension module. Build modes are
environment switches, not forked scripts:

  BARFINEX_ANNOTATE=1   write Cython's HTML annotation next to each .pyx
  BARFINEX_PROFILE=1    compile with profiling and line tracing hooks
  BARFINEX_DEBUG=1      -O0 -g, Cython's own runtime checks on
"""
import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

HERE = Path(__file__).parent
FAST = HERE / "barfinex" / "_fast"


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")


debug = _flag("BARFINEX_DEBUG")
profile = _flag("BARFINEX_PROFILE")

# Safe directives everywhere; a measured loop opts out locally with
# @cython.boundscheck(False) / @cython.wraparound(False).
directives = {
    "language_level": 3,
    "boundscheck": True,
    "wraparound": True,
    "cdivision": False,
    "initializedcheck": True,
    "embedsignature": True,
    "profile": profile,
    "linetrace": profile,
}

compile_args = ["-O0", "-g"] if debug else ["-O3"]
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if profile:
    macros.append(("CYTHON_TRACE_NOGIL", "1"))

extensions = [
    Extension(
        f"barfinex._fast.{pyx.stem}",
        [str(pyx.relative_to(HERE))],
        include_dirs=[numpy.get_include(), str(FAST)],
        extra_compile_args=compile_args,
        define_macros=macros,
    )
    for pyx in sorted(FAST.glob("*.pyx"))
]

setup(
    # The repo keeps configs/ at the top level (one job per folder); installed,
    # it is importable as barfinex.configs so `barfinex up` finds its default.
    packages=[*find_packages(include=["barfinex", "barfinex.*", "actors", "actors.*"]), "barfinex.configs"],
    package_dir={"barfinex.configs": "configs"},
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        annotate=_flag("BARFINEX_ANNOTATE"),
        nthreads=os.cpu_count() or 1,
    ),
    zip_safe=False,
)
