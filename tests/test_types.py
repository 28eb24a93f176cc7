"""``manage.py task_api_types``: declarations that ``tsc --strict`` checks calls against.

The generated file is compiled with the JS client as an installed package
(``node_modules/django-task-api`` is ``static_src/``), once as an ES module and
once as CommonJS, with good usages that must compile and bad ones that must not.
"""

from __future__ import annotations

import json
import re
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from task_api.typescript import to_typescript

REPO_ROOT = Path(__file__).resolve().parent.parent
STATIC_SRC = REPO_ROOT / "static_src"
TSC = STATIC_SRC / "node_modules" / ".bin" / "tsc"

GOOD = """
import TaskAPI, { run, type Task } from 'django-task-api'

const waited: Promise<number> = TaskAPI.run("wait", {seconds: 3}).then((j) => j.outputs.waited)
TaskAPI.run('wait', {seconds: 3}, function (json) {
  const progress: number | null = json.progress
  const partial: number | undefined = json.outputs.waited
  void [progress, partial]
}).then((json) => json.outputs.waited.toFixed())
run('wait')
run('wait', {label: 'tea'}, {onSuccess: (json: Task<{waited: number}>) => json.outputs.waited})
run('add', {a: 1}).then((json) => json.outputs.sum + 1)
run('add', {a: 1, b: 2}, null, (json) => json.outputs.sum, (err) => err.code)
run('messages', {lines: ['a', 'b']})
TaskAPI.start('add', {a: 2}).then((json) => json.outputs.sum)
TaskAPI.watch('6f1c3a52').then((json) => json.outputs)
// Streams: the chunks of those the task declares are typed, any other name is read too.
run('tokens', {count: 2}, {streams: {
  answer: {offset: 1, onChunks: (words, offset) => words.map((w) => w.toUpperCase() + offset)},
  rows: {onChunks: (rows) => rows[0]},
  other: {},
}})
void waited
"""

BAD = {
    "unknown_task": "TaskAPI.run('nope', {})",
    "unknown_input": "TaskAPI.run('wait', {secs: 3})",
    "wrong_input_type": "TaskAPI.run('wait', {seconds: 'three'})",
    "missing_required_input": "TaskAPI.run('add', {b: 1})",
    "missing_inputs": "TaskAPI.run('add')",
    "wrong_list_item": "TaskAPI.run('messages', {lines: [1]})",
    "unknown_output": "TaskAPI.run('wait', {}).then((json) => json.outputs.slept)",
    "output_type": "TaskAPI.run('wait').then((json) => json.outputs.waited.toUpperCase())",
    "stream_chunk_type": (
        "TaskAPI.run('tokens', {count: 1}, {streams: {answer: {onChunks: (w) => w[0].toFixed()}}})"
    ),
}


def _project(tmp_path: Path, module: str, declarations: str) -> Path:
    """A TypeScript project in ``tmp_path`` with the client installed and ``declarations``."""
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "django-task-api").symlink_to(STATIC_SRC)
    (tmp_path / "tasks.d.ts").write_text(declarations)
    options = {
        "strict": True,
        "noEmit": True,
        "types": [],
        "lib": ["es2022", "dom"],
        "target": "es2022",
        "skipLibCheck": False,
        **(
            {"module": "nodenext", "moduleResolution": "nodenext"}
            if module == "commonjs"
            else {"module": "esnext", "moduleResolution": "bundler"}
        ),
    }
    if module == "commonjs":
        (tmp_path / "package.json").write_text('{"type": "commonjs"}')
    (tmp_path / "tsconfig.json").write_text(json.dumps({"compilerOptions": options}))
    return tmp_path


def _errors(project: Path, files: list[str]) -> dict[str, list[str]]:
    """``tsc``'s errors per file name."""
    done = subprocess.run(
        [str(TSC), "-p", "tsconfig.json", "--pretty", "false"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found: dict[str, list[str]] = {name: [] for name in files}
    for line in done.stdout.splitlines():
        match = re.match(r"^(\S+?)\(\d+,\d+\): error (TS\d+: .*)$", line)
        if match:
            found.setdefault(match.group(1), []).append(match.group(2))
    assert done.returncode in (0, 1, 2), done.stdout + done.stderr
    return found


def _generated(*args: str) -> str:
    out = StringIO()
    call_command("task_api_types", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def declarations() -> str:
    if not TSC.exists():
        pytest.fail("no tsc: run scripts/bootstrap --js", pytrace=False)
    return _generated()


@pytest.mark.parametrize("module", ["esm", "commonjs"])
def test_tsc_strict_accepts_good_calls_and_rejects_bad_ones(
    tmp_path: Path, declarations: str, module: str
) -> None:
    project = _project(tmp_path, module, declarations)
    head = "import TaskAPI from 'django-task-api'\n"
    if module == "commonjs":
        head = "import TaskAPI = require('django-task-api')\n"
        good = GOOD.replace(
            "import TaskAPI, { run, type Task } from 'django-task-api'",
            "import TaskAPI = require('django-task-api')\nconst run = TaskAPI.run\n"
            "type Task<O> = TaskAPI.Task<O>",
        )
    else:
        good = GOOD
    (project / "good.ts").write_text(good + "\nexport {}\n")
    for name, line in BAD.items():
        (project / f"bad_{name}.ts").write_text(f"{head}{line}\nexport {{}}\n")
    files = ["tasks.d.ts", "good.ts", *(f"bad_{name}.ts" for name in BAD)]
    errors = _errors(project, files)
    assert errors.pop("tasks.d.ts") == []
    assert errors.pop("good.ts") == []
    missed = [name for name, found in errors.items() if not found]
    assert missed == [], f"compiled without an error: {missed}"
    assert set(errors) == {f"bad_{name}.ts" for name in BAD}, errors


def test_global_declaration_for_the_script_tag(tmp_path: Path) -> None:
    project = _project(tmp_path, "esm", _generated("--global"))
    (project / "page.ts").write_text(
        "TaskAPI.run('wait', {seconds: 3}).then((json) => json.outputs.waited.toFixed())\n"
        "export {}\n"
    )
    (project / "bad_page.ts").write_text("TaskAPI.run('wait', {seconds: '3'})\nexport {}\n")
    errors = _errors(project, ["page.ts", "bad_page.ts"])
    assert errors["page.ts"] == []
    assert errors["bad_page.ts"] != []


def test_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "types" / "tasks.d.ts"
    call_command("task_api_types", "--output", str(target), stderr=StringIO())
    text = target.read_text()
    assert text == _generated()
    assert "interface TaskTypes {" in text
    assert "    /** Wait a number of seconds, counting them. */\n    wait: {" in text


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string", "format": "date-time"}, "string"),
        ({"enum": ["a", 1]}, '"a" | 1'),
        ({"type": "array", "items": {"enum": ["a", "b"]}}, '("a" | "b")[]'),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, "Record<string, number>"),
        ({"type": "object", "additionalProperties": True}, "Record<string, unknown>"),
        ({"type": ["string", "null"]}, "string | null"),
        ({}, "unknown"),
        (
            {"type": "object", "properties": {"a-b": {"type": "boolean"}}, "required": ["a-b"]},
            '{\n  "a-b": boolean\n  [key: string]: unknown\n}',
        ),
    ],
)
def test_json_schema_to_typescript(schema: dict[str, object], expected: str) -> None:
    assert to_typescript(schema) == expected
