"""The ctypes declarations cover every function of include/tasker.h and of the library."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tasker
from tasker import _bindings, errors
from tasker._lib import lib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HEADER = ROOT.parents[1] / "include" / "tasker.h"
sys.path.insert(0, str(ROOT / "tools"))
import gen_bindings  # noqa: E402


def header_functions() -> list[str]:
    """An independent, naive scan: every `name(` that starts a declaration at column 0."""
    text = HEADER.read_text()
    return re.findall(r"^(?:const )?\w+ \*?(tasker_\w+)\(", text, flags=re.M)


def test_generated_bindings_are_fresh() -> None:
    assert gen_bindings.generate(HEADER) == (ROOT / "tasker" / "_bindings.py").read_text(), \
        "tasker/_bindings.py is stale: run python3 tools/gen_bindings.py"


def test_table_lists_every_header_function() -> None:
    names = header_functions()
    assert len(names) >= 38
    assert list(_bindings.FUNCTIONS) == names


def test_table_covers_every_exported_symbol() -> None:
    nm = shutil.which("nm")
    if nm is None:
        pytest.fail("nm (binutils) is needed to list the library's exported symbols")
    out = subprocess.run([nm, "-D", "--defined-only", tasker.library_path], check=True,
                         capture_output=True, text=True).stdout
    exported = sorted({line.split()[-1] for line in out.splitlines() if re.search(r" T tasker_\w+$", line)})
    assert exported == sorted(_bindings.FUNCTIONS)


def test_every_function_has_restype_and_argtypes_declared() -> None:
    for name, (restype, argtypes) in _bindings.FUNCTIONS.items():
        fn = getattr(lib, name)
        assert fn.argtypes == argtypes, name
        assert fn.restype is restype or fn.restype == restype, name


def test_prototypes_match_header_arity() -> None:
    text = " ".join(HEADER.read_text().split())
    for name, (_, argtypes) in _bindings.FUNCTIONS.items():
        params = re.search(rf"\b{name}\(([^)]*)\);", text).group(1)
        expected = 0 if params.strip() == "void" else params.count(",") + 1
        assert len(argtypes) == expected, name


def test_result_codes_and_names_agree_with_library() -> None:
    for name, code in _bindings.RESULT_CODES.items():
        assert tasker.result_name(code) == name.lower()


def test_every_result_code_has_its_own_exception_class() -> None:
    for name, code in _bindings.RESULT_CODES.items():
        if code == 0:
            continue
        cls = errors.error_for_code(code)
        assert cls is not errors.TaskerError and cls.CODE == code, name
        assert issubclass(cls, errors.TaskerError)


def test_version() -> None:
    assert tasker.version() == _bindings.HEADER_VERSION
    assert re.match(r"\d+\.\d+\.\d+", tasker.version())
