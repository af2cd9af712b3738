#!/usr/bin/env python3
"""Generates tasker/_bindings.py (ctypes restype/argtypes for every function) from include/tasker.h.

    python3 tools/gen_bindings.py [HEADER] [--check]

The header is regular cbindgen output, so a small parser suffices: the tasker_result enum, the
tasker_bytes struct, the callback typedefs and every function prototype. `--check` exits 1 when
the checked-in module differs from what the header gives (tests/test_bindings.py runs it too).
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_HEADER = HERE.parent.parent.parent / "include" / "tasker.h"
OUTPUT = HERE.parent / "tasker" / "_bindings.py"

SCALARS = {
    "void": "None",
    "bool": "ctypes.c_bool",
    "int32_t": "ctypes.c_int32",
    "uint32_t": "ctypes.c_uint32",
    "int64_t": "ctypes.c_int64",
    "uint64_t": "ctypes.c_uint64",
    "size_t": "ctypes.c_size_t",
    "double": "ctypes.c_double",
    "tasker_result": "ctypes.c_uint32",
    "uint8_t": "ctypes.c_uint8",
}


@dataclass
class Param:
    ctype: str
    name: str


@dataclass
class Prototype:
    name: str
    ret: str
    params: list[Param]


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _split_decl(decl: str) -> tuple[str, str]:
    """'const struct tasker_client **out' -> ('const struct tasker_client **', 'out')."""
    decl = " ".join(decl.split())
    m = re.match(r"^(.*?[\s*])([A-Za-z_][A-Za-z0-9_]*)$", decl)
    if not m:
        raise ValueError(f"cannot parse declaration {decl!r}")
    ctype = re.sub(r"\s*\*", " *", m.group(1)).strip()
    ctype = re.sub(r"\* \*", "**", ctype)
    return ctype, m.group(2)


def _params(text: str) -> list[Param]:
    text = " ".join(text.split())
    if text in ("", "void"):
        return []
    return [Param(*_split_decl(p.strip())) for p in text.split(",")]


def parse(header: str) -> dict[str, object]:
    src = _strip_comments(header)
    results: dict[str, int] = {}
    enum = re.search(r"enum tasker_result\b[^{]*\{(.*?)\};", src, flags=re.S)
    if not enum:
        raise ValueError("enum tasker_result not found")
    for name, value in re.findall(r"TASKER_RESULT_([A-Z_]+)\s*=\s*(\d+)", enum.group(1)):
        results[name] = int(value)

    structs: dict[str, list[Param]] = {}
    for name, body in re.findall(r"typedef struct (\w+)\s*\{(.*?)\}\s*\w+\s*;", src, flags=re.S):
        fields = [Param(*_split_decl(f)) for f in body.split(";") if f.strip()]
        structs[name] = fields

    callbacks: dict[str, Prototype] = {}
    for ret, name, params in re.findall(r"typedef\s+([\w ]+?)\s*\(\*(\w+)\)\s*\((.*?)\);", src, flags=re.S):
        callbacks[name] = Prototype(name, ret.strip(), _params(params))

    functions: dict[str, Prototype] = {}
    body = re.sub(r"^\s*#[^\n]*", " ", src, flags=re.M)
    body = re.sub(r"(typedef\s+)?(enum|struct)\s+\w+[^;{]*\{.*?\}\s*\w*\s*;", " ", body, flags=re.S)
    body = re.sub(r"typedef[^;]*;", " ", body)
    for chunk in body.split(";"):
        m = re.match(r"^\s*((?:const\s+)?[A-Za-z_][\w ]*?\s*\**)\s*\b(tasker_\w+)\s*\(([^()]*)\)\s*$", chunk, flags=re.S)
        if m:
            ret, name, params = m.groups()
            ctype = re.sub(r"\s*\*", " *", ret).strip()
            functions[name] = Prototype(name, ctype, _params(params))
    version = re.search(r'#define TASKER_VERSION_STRING "([^"]+)"', header)
    return {"version": version.group(1) if version else "", "results": results, "structs": structs, "callbacks": callbacks, "functions": functions}


def ctypes_expr(ctype: str, *, in_callback: bool, structs: dict[str, list[Param]], callbacks: dict[str, Prototype]) -> str:
    t = ctype.replace("const ", "").strip()
    if t in callbacks:
        return t
    if t in SCALARS:
        return SCALARS[t]
    stars = t.count("*")
    base = t.replace("*", "").replace("struct ", "").strip()
    if stars == 1:
        if base == "char":
            # Borrowed NUL-terminated strings; callbacks never receive strings.
            return "ctypes.c_char_p"
        if base == "uint8_t":
            # Input buffers accept `bytes` directly (no copy); buffers handed to callbacks are raw
            # addresses read with ctypes.string_at (c_char_p would stop at the first NUL).
            return "ctypes.c_void_p" if in_callback else "ctypes.c_char_p"
        if base == "void":
            return "ctypes.c_void_p"
        if base in structs:
            return f"ctypes.POINTER({_struct_class(base)})"
        if base.startswith("tasker_"):
            return "ctypes.c_void_p"  # opaque handle
        if base in SCALARS:
            return f"ctypes.POINTER({SCALARS[base]})"
    if stars == 2 and base == "char":
        return "ctypes.POINTER(ctypes.c_char_p)"  # out-parameter receiving a borrowed string
    if stars == 2 and base.startswith("tasker_") and base not in structs:
        return "ctypes.POINTER(ctypes.c_void_p)"  # out-parameter receiving an opaque handle
    raise ValueError(f"no ctypes mapping for {ctype!r}")


def _struct_class(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def render(parsed: dict[str, object], header_name: str = "include/tasker.h") -> str:
    results: dict[str, int] = parsed["results"]  # type: ignore[assignment]
    structs: dict[str, list[Param]] = parsed["structs"]  # type: ignore[assignment]
    callbacks: dict[str, Prototype] = parsed["callbacks"]  # type: ignore[assignment]
    functions: dict[str, Prototype] = parsed["functions"]  # type: ignore[assignment]
    kw: dict[str, Any] = {"structs": structs, "callbacks": callbacks}
    out = [
        f'"""ctypes declarations for libtasker, generated from {header_name} by tools/gen_bindings.py.',
        "",
        "Do not edit: run `python3 tools/gen_bindings.py` after the header changes",
        '(tests/test_bindings.py fails when this file is stale)."""',
        "# fmt: off",
        "from __future__ import annotations",
        "",
        "import ctypes",
        "from typing import Any",
        "",
        "# TASKER_VERSION_STRING of the header these declarations come from",
        f'HEADER_VERSION = "{parsed["version"]}"',
        "",
        "# enum tasker_result",
        "RESULT_CODES: dict[str, int] = {",
    ]
    out += [f'    "{name}": {value},' for name, value in results.items()]
    out += ["}", ""]
    for name, fields in structs.items():
        cls = _struct_class(name)
        out += [f"class {cls}(ctypes.Structure):", f'    """struct {name}"""', "    _fields_ = ["]
        for f in fields:
            out.append(f'        ("{f.name}", {ctypes_expr(f.ctype, in_callback=True, **kw)}),')
        out += ["    ]", "", ""]
    for name, proto in callbacks.items():
        args = [ctypes_expr(proto.ret, in_callback=True, **kw)]
        args += [ctypes_expr(p.ctype, in_callback=True, **kw) for p in proto.params]
        sig = ", ".join(f"{p.ctype} {p.name}" for p in proto.params)
        out.append(f"# {proto.ret} (*{name})({sig})")
        out.append(f"{name} = ctypes.CFUNCTYPE({', '.join(args)})")
    out += ["", "# name -> (restype, argtypes), one entry per function of the header, in header order", "FUNCTIONS: dict[str, tuple[Any, list[Any]]] = {"]
    for name, proto in functions.items():
        ret = ctypes_expr(proto.ret, in_callback=False, **kw)
        args = ", ".join(ctypes_expr(p.ctype, in_callback=False, **kw) for p in proto.params)
        out.append(f'    "{name}": ({ret}, [{args}]),')
    out += [
        "}",
        "",
        "",
        "def bind(lib: ctypes.CDLL) -> None:",
        '    """Declares restype and argtypes of every function on `lib`."""',
        "    for name, (restype, argtypes) in FUNCTIONS.items():",
        "        fn = getattr(lib, name)",
        "        fn.restype = restype",
        "        fn.argtypes = argtypes",
        "",
    ]
    return "\n".join(out)


def generate(header_path: Path) -> str:
    return render(parse(header_path.read_text(encoding="utf-8")))


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    header = Path(args[0]) if args else DEFAULT_HEADER
    text = generate(header)
    if check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is stale: run python3 tools/gen_bindings.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
