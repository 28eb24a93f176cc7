"""MkDocs hook: the generated parts of the reference, rendered from the code at build time.

A page asks for one with a line ``<!-- generated: NAME -->``:

- ``settings``: the settings object of ``task_api/conf.py``;
- ``checks``: the system check ids of ``task_api`` and the list in ``task_api/checks.py``;
- ``rest``: the OpenAPI document that ``GET /tasks/schema/`` serves (``docs/hooks/openapi.py``);
- ``js``: the declarations of the browser client, ``static_src/types/index.d.ts``.

Nothing here is written to ``docs/``, so the reference cannot drift from the code.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- generated: ([\w-]+) -->$", re.M)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _python_default(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


# -- settings ----------------------------------------------------------------------------------


def settings_table() -> str:
    """Each ``TASK_API_*`` setting: its default, its meaning, and its other names."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from task_api.conf import TaskAPISettings

    lines = ["| setting | default | meaning |", "| --- | --- | --- |"]
    for setting in TaskAPISettings.all():
        also = [f"`{name}`" for name in setting.names[1:]]
        meaning = setting.doc
        if also and not all(name in meaning for name in also):
            meaning += f" (also read: {', '.join(also)})"
        anchor = setting.name.lower()
        lines.append(
            f"| <span id={anchor}></span>`{setting.name}` "
            f"| `{_cell(_python_default(setting.default))}` | {_cell(meaning)} |"
        )
    options = ", ".join(f"`{s.options[0]}`" for s in TaskAPISettings.all())
    lines += ["", f"`OPTIONS` names of `TaskAPIBackend`, in the same order: {options}."]
    return "\n".join(lines)


# -- system checks -----------------------------------------------------------------------------

_CHECK_ID = re.compile(r"^(?:task_api\.)?([EW]\d{3})$")


def check_ids() -> dict[str, list[str]]:
    """Each check id that ``task_api``'s code reports -> the functions that report it (the
    functions with a string constant ``"task_api.E001"`` or ``"E001"``; comments do not count)."""
    found: dict[str, list[str]] = {}
    for path in sorted((REPO_ROOT / "task_api").rglob("*.py")):
        module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for constant in ast.walk(node):
                value = constant.value if isinstance(constant, ast.Constant) else None
                if isinstance(value, str) and (match := _CHECK_ID.match(value)):
                    functions = found.setdefault(match.group(1), [])
                    if f"{module}.{node.name}" not in functions:
                        functions.append(f"{module}.{node.name}")
    return dict(sorted(found.items()))


def documented_checks() -> dict[str, str]:
    """The ids and descriptions listed in ``task_api/checks.py``'s docstring."""
    doc = ast.get_docstring(ast.parse((REPO_ROOT / "task_api" / "checks.py").read_text())) or ""
    return {
        match.group(1): match.group(2).strip()
        for match in re.finditer(r"^- ``task_api\.([EW]\d{3})``: (.+)$", doc, re.M)
    }


def checks_table() -> str:
    listed = documented_checks()
    used = check_ids()
    missing = sorted(set(used) - set(listed))
    if missing:
        raise ValueError(f"task_api/checks.py's docstring does not list {missing}")
    lines = ["| id | level | reported when | by |", "| --- | --- | --- | --- |"]
    for check_id, text in sorted(listed.items()):
        level = "Error" if check_id.startswith("E") else "Warning"
        text = re.sub(r"``(.+?)``", r"`\1`", text)
        by = ", ".join(f"`{name}`" for name in used.get(check_id, []))
        lines.append(
            f"| <span id=task_api{check_id.lower()}></span>`task_api.{check_id}` "
            f"| {level} | {_cell(text)} | {by} |"
        )
    return "\n".join(lines)


# -- REST, from the OpenAPI document -----------------------------------------------------------


@cache
def openapi() -> dict[str, Any]:
    """The OpenAPI document, made by ``docs/hooks/openapi.py`` in a process of its own."""
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "docs" / "hooks" / "openapi.py")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"docs/hooks/openapi.py failed:\n{done.stderr}")
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[1]


def _schema_type(schema: dict[str, Any]) -> str:
    """A short type of ``schema``, a component a link to its section."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f"[{name}](#schema-{name.lower().strip('_')})"
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_schema_type(part) for part in schema[key])
    kind = schema.get("type", "any")
    if kind == "array":
        kind = f"list of {_schema_type(schema.get('items', {}))}"
    elif kind == "object" and schema.get("maxProperties") == 0:
        kind = "`{}`"
    if "enum" in schema:
        kind += ": " + ", ".join(f"`{value}`" for value in schema["enum"])
    if "format" in schema:
        kind += f" ({schema['format']})"
    if schema.get("nullable"):
        kind += " or null"
    return kind


def _constraints(schema: dict[str, Any]) -> str:
    names = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern")
    return ", ".join(f"{name} {schema[name]}" for name in names if name in schema)


def _properties(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    lines = ["| field | type | required | description |", "| --- | --- | --- | --- |"]
    for name, prop in schema.get("properties", {}).items():
        text = prop.get("description", "")
        if more := _constraints(prop):
            text = f"{text} ({more})" if text else more
        yes = "yes" if name in required else ""
        lines.append(f"| `{name}` | {_schema_type(prop)} | {yes} | {_cell(text)} |")
    return lines


def _body_schema(content: dict[str, Any]) -> dict[str, Any]:
    for media in content.values():
        schema: dict[str, Any] = media.get("schema", {})
        return schema
    return {}


def rest_reference() -> str:
    document = openapi()
    out: list[str] = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            out += [f"### `{method.upper()} {path}`", "", operation.get("description", ""), ""]
            if parameters := operation.get("parameters"):
                out += ["| parameter | in | type | description |", "| --- | --- | --- | --- |"]
                for parameter in parameters:
                    out.append(
                        f"| `{parameter['name']}` | {parameter['in']} "
                        f"| {_schema_type(parameter.get('schema', {}))} "
                        f"| {_cell(parameter.get('description', ''))} |"
                    )
                out.append("")
            if body := operation.get("requestBody"):
                out += [f"Request body: {_schema_type(_body_schema(body['content']))}", ""]
            out += ["| status | body | meaning |", "| --- | --- | --- |"]
            for status, response in sorted(operation["responses"].items()):
                schema = _body_schema(response.get("content", {}))
                kind = _schema_type(schema) if schema else ""
                out.append(f"| {status} | {kind} | {_cell(response.get('description', ''))} |")
            out.append("")
    out += ["## Schemas", ""]
    for name, schema in document["components"]["schemas"].items():
        out += [f"### {name} {{#schema-{name.lower().strip('_')}}}", ""]
        if text := schema.get("description"):
            text = re.sub(r":\w+:`~?\.?([\w.]+)`", r"`\1`", text).replace("``", "`")
            out += [text if "enum" not in schema else "", ""]
        if "oneOf" in schema:
            out += ["One of: " + ", ".join(_schema_type(part) for part in schema["oneOf"]), ""]
            if discriminator := schema.get("discriminator"):
                out += [f"Chosen by the field `{discriminator['propertyName']}`.", ""]
        elif "properties" in schema:
            out += [*_properties(schema), ""]
        else:
            out += [_schema_type(schema), ""]
    return "\n".join(out)


# -- the JS client, from its declarations ------------------------------------------------------

_DECLARATION = re.compile(
    r"(?:/\*\*(?P<doc>(?:(?!\*/).)*?)\*/\s*\n)?"
    r"^export (?:declare )?(?P<kind>function|interface|type|class|const) (?P<name>\w+)",
    re.S | re.M,
)


def _doc_text(doc: str | None) -> str:
    if not doc:
        return ""
    lines = [re.sub(r"^\s*\* ?", "", line) for line in doc.strip().splitlines()]
    text = " ".join(line.strip() for line in lines if line.strip())
    return re.sub(r"\{@link (\w+)\}", r"`\1`", text)


def _declaration_text(source: str, start: int) -> str:
    """The declaration starting at ``start``: its line and the continuation lines after it
    (indented, or starting with a closing bracket or ``|``)."""
    lines = source[start:].splitlines()
    taken = [lines[0]]
    for line in lines[1:]:
        if not line or not (line[0].isspace() or line[0] in ")}]>|"):
            break
        taken.append(line)
    return "\n".join(taken)


def js_declarations() -> list[dict[str, str]]:
    """The exported declarations of ``index.d.ts``: kind, name, doc and text, overloads merged."""
    source = (REPO_ROOT / "static_src" / "types" / "index.d.ts").read_text()
    found: list[dict[str, str]] = []
    for match in _DECLARATION.finditer(source):
        text = _declaration_text(source, source.rfind("export", 0, match.start("kind")))
        entry = {
            "kind": match.group("kind"),
            "name": match.group("name"),
            "doc": _doc_text(match.group("doc")),
            "text": text.strip(),
        }
        previous = found[-1] if found else None
        if previous and (previous["kind"], previous["name"]) == (entry["kind"], entry["name"]):
            previous["text"] += "\n" + entry["text"]
            previous["doc"] = previous["doc"] or entry["doc"]
        else:
            found.append(entry)
    return found


def js_reference() -> str:
    sections = {
        "function": "Functions",
        "const": "Values",
        "class": "Classes",
        "interface": "Interfaces",
        "type": "Types",
    }
    declarations = js_declarations()
    source = (REPO_ROOT / "static_src" / "types" / "index.d.ts").read_text()
    out: list[str] = []
    default = re.search(
        r"^declare const (\w+)(: \{.*?^\})\nexport default \1$", source, re.S | re.M
    )
    if default:
        name = default.group(1)
        out += [
            f"### The `{name}` object {{#js-{name.lower()}}}",
            "",
            f"The default export, and the global `{name}` of the `<script>` build.",
            "",
            "```ts",
            f"declare const {name}{default.group(2)}",
            f"export default {name}",
            "```",
            "",
        ]
    for kind, title in sections.items():
        out += [f"### {title}", ""]
        for entry in (d for d in declarations if d["kind"] == kind):
            out += [f"#### `{entry['name']}` {{#js-{entry['name'].lower()}}}", ""]
            if entry["doc"]:
                out += [entry["doc"], ""]
            out += ["```ts", entry["text"], "```", ""]
    return "\n".join(out)


RENDERERS: dict[str, Callable[[], str]] = {
    "settings": settings_table,
    "checks": checks_table,
    "rest": rest_reference,
    "js": js_reference,
}


def render(markdown: str) -> str:
    """``markdown`` with each ``<!-- generated: NAME -->`` line replaced by its content."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in RENDERERS:
            raise KeyError(f"no generated part {name!r}; known: {sorted(RENDERERS)}")
        return RENDERERS[name]()

    return MARKER.sub(replace, markdown)


def on_startup(command: str, dirty: bool, **kwargs: Any) -> None:
    openapi.cache_clear()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return render(markdown)


_ROLE = re.compile(r":(?:mod|func|class|meth|attr|exc|data|obj):(?=<code>)")


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """Docstrings name code with Sphinx roles (``:func:`run```): show the name alone."""
    return _ROLE.sub("", html)
