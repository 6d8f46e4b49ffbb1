#!/usr/bin/env python3
"""Validate a folder of Airflow DAGs before it is deployed.

Step 1 compiles every ``*.py`` file in memory, so a syntax error is reported on
the exact file and line without needing Airflow. Step 2 (IMPORT=true) loads
the folder with Airflow's own DagBag, which catches the errors that only show
up on import: missing packages, bad operator arguments, DAG cycles, ...

Configuration comes from the environment, as a composite action passes it:

    SOURCE               DAG folder, relative to GITHUB_WORKSPACE (``source``)
    IMPORT               ``true`` to run the DagBag import check
    GITHUB_WORKSPACE     repository root; annotation paths are relative to it
    GITHUB_OUTPUT        file receiving ``files``, ``dags``, ``import-errors``
    GITHUB_STEP_SUMMARY  file receiving a Markdown summary

Standard library only, Python 3.9+: it runs on whatever Python
actions/setup-python installed, before anything else is installed.
"""

import html
import io
import os
import re
import sys
import tokenize
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple, Union

# DagBag imports DAG files (and the helpers they import) through the normal
# import machinery, which would otherwise leave __pycache__/*.pyc in the
# checkout, and a later deploy step would upload them.
sys.dont_write_bytecode = True

NAME = "validate-dags"
# The job summary lists this many problems, then only a count: the annotations
# already carry them all, and a summary is capped at 1 MiB.
SUMMARY_LIMIT = 50
TRACEBACK_FRAME = re.compile(r'^\s*File "(?P<file>.+)", line (?P<line>\d+)', re.MULTILINE)


@dataclass
class Problem:
    """One failing file, reported as one ``::error`` annotation."""

    path: str
    title: str
    message: str
    line: Optional[int] = None
    col: Optional[int] = None


class ConfigError(Exception):
    """A mistake in the action's inputs: reported once, with no summary."""


class AirflowUnavailable(Exception):
    """IMPORT=true, but no DagBag can be imported."""


# --- Workflow commands -------------------------------------------------------


def escape_data(value: str) -> str:
    # Same rules as @actions/core: an unescaped newline would end the command
    # and let the rest of the text (a file name, a traceback) be read as a
    # new command by the runner.
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    # Properties are also split on "," and separated from the message by
    # "::", so those characters must be encoded as well.
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def annotate(kind: str, message: str, **properties: Union[str, int, None]) -> None:
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None and value != ""
    )
    command = f"::{kind} {props}::" if props else f"::{kind}::"
    print(command + escape_data(message), flush=True)


def workspace_relative(path: str, workspace: str) -> str:
    """Path as GitHub expects in an annotation: relative to the repo, with '/'."""
    try:
        relative = os.path.relpath(path, workspace)
    except ValueError:  # another drive on Windows: nothing better to offer
        return path
    return relative.replace(os.sep, "/")


def write_outputs(outputs: Dict[str, str]) -> None:
    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        return
    # Values are integers or empty, so the simple name=value form is safe.
    with open(target, "a", encoding="utf-8") as handle:
        for name, value in outputs.items():
            handle.write(f"{name}={value}\n")


def write_summary(markdown: str) -> None:
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(markdown)


# --- Compile check -----------------------------------------------------------


def find_python_files(root: str) -> Iterator[str]:
    """Every *.py under root, sorted, without caches and dot-folders (.git, .venv).

    Links to folders are followed, as deploy-dags follows them, so that what is deployed is what
    is checked; a link back into a folder being walked (a loop) is skipped.
    """
    ancestors = {root: frozenset([os.path.realpath(root)])}
    for directory, subdirectories, files in os.walk(root, followlinks=True):
        inside = ancestors.pop(directory)
        kept = []
        for name in sorted(subdirectories):
            if name == "__pycache__" or name.startswith("."):
                continue
            path = os.path.join(directory, name)
            real = os.path.realpath(path)
            if real in inside:
                continue
            ancestors[path] = inside | {real}
            kept.append(name)
        subdirectories[:] = kept
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(directory, name)


def position(data: Union[bytes, str], offset: int) -> Tuple[int, int]:
    """1-based line and column of an offset into a file's bytes or text."""
    if isinstance(data, bytes):
        line_start = data.rfind(b"\n", 0, offset) + 1
        return data.count(b"\n", 0, offset) + 1, offset - line_start + 1
    line_start = data.rfind("\n", 0, offset) + 1
    return data.count("\n", 0, offset) + 1, offset - line_start + 1


def compile_file(path: str) -> Optional[Problem]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:  # unreadable file or dangling symlink
        return Problem(path, type(error).__name__, error.strerror or str(error))

    text: Optional[str] = None
    try:
        # Decode the way the interpreter will (PEP 263 coding cookie, UTF-8
        # BOM, else UTF-8) so an undecodable byte is reported at its position.
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        text = raw.decode(encoding)
        # In memory only: py_compile would write .pyc files into the checkout.
        # dont_inherit keeps this script's own __future__ flags out of it.
        compile(text, path, "exec", dont_inherit=True)
    except UnicodeDecodeError as error:
        line, col = position(raw, error.start)
        return Problem(path, "UnicodeDecodeError", str(error), line, col)
    except (SyntaxError, ValueError) as error:
        # SyntaxError covers IndentationError and TabError. Depending on the
        # Python version a null byte is a ValueError without a location or a
        # SyntaxError with or without one: locate the byte ourselves so every
        # version points at the same place.
        message = getattr(error, "msg", None) or str(error)
        if text is not None and "\0" in text and "null byte" in str(error):
            line, col = position(text, text.index("\0"))
            return Problem(path, type(error).__name__, message, line, col)
        if isinstance(error, SyntaxError):
            return Problem(path, type(error).__name__, message, error.lineno, error.offset or None)
        return Problem(path, type(error).__name__, message)
    except (MemoryError, OverflowError, RecursionError) as error:
        # Pathologically large or nested sources: still a failure of this
        # file, not a crash of the whole check.
        return Problem(path, type(error).__name__, str(error) or type(error).__name__)
    return None


# --- Import check --------------------------------------------------------------


def load_dagbag(source: str):  # -> airflow DagBag; untyped: Airflow is optional
    # DAG files import their own helpers as top-level modules because Airflow
    # puts the DAGs folder on sys.path: do the same so those imports resolve
    # as they will in production, and tell Airflow this is the DAGs folder.
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = source
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    # Airflow keeps only the last 2 frames of an import error by default,
    # which often drops the DAG file's own frame when a library raised: keep
    # enough to find the line to annotate.
    os.environ.setdefault("AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACK_DEPTH", "20")
    if source not in sys.path:
        sys.path.insert(0, source)
    try:
        from airflow.models.dagbag import DagBag
    except ImportError:
        try:
            # Airflow 3.1 moved the file-parsing DagBag out of airflow.models.
            from airflow.dag_processing.dagbag import DagBag
        except ImportError as error:
            raise AirflowUnavailable(
                f"Cannot import Airflow's DagBag ({error}). The import check needs Airflow"
                " installed: the action installs it when 'airflow-version' is set."
            ) from error
    return DagBag(dag_folder=source, include_examples=False)


def same_file(first: str, second: str) -> bool:
    return os.path.normcase(os.path.realpath(first)) == os.path.normcase(os.path.realpath(second))


def import_problem(path: str, message: str) -> Problem:
    """An import error, located at the deepest traceback frame in that file."""
    line = None
    for frame in TRACEBACK_FRAME.finditer(message):
        # The last frame in the DAG file is the statement that raised, or the
        # call into the library that did: the most useful place to point at.
        if same_file(frame.group("file"), path):
            line = int(frame.group("line"))
    return Problem(path, "DAG import error", message.strip(), line)


def import_check(source: str) -> Tuple[int, List[Problem]]:
    dagbag = load_dagbag(source)
    problems = []
    for path, message in sorted(dagbag.import_errors.items()):
        path = str(path)
        # Should a DagBag key an error by a path relative to its folder (as
        # DAG bundles do in Airflow 3), resolve it so the annotation lands.
        if not os.path.isabs(path):
            path = os.path.join(source, path)
        problems.append(import_problem(path, str(message)))
    return len(dagbag.dags), problems


# --- Report ------------------------------------------------------------------


def escape_html(text: str) -> str:
    # "<module>" in a traceback would otherwise be read as an HTML tag and vanish.
    return html.escape(text, quote=False)


def summary_lines(problems: List[Problem], workspace: str) -> List[str]:
    lines = []
    for problem in problems[:SUMMARY_LIMIT]:
        where = workspace_relative(problem.path, workspace)
        if problem.line:
            where += f":{problem.line}"
        # Only the last line of a traceback: the annotation has the rest.
        detail = problem.message.strip().splitlines()[-1] if problem.message.strip() else ""
        line = f"- <code>{escape_html(where)}</code>: {escape_html(problem.title)}"
        lines.append(line + (f": {escape_html(detail)}" if detail else ""))
    if len(problems) > SUMMARY_LIMIT:
        lines.append(f"- … and {len(problems) - SUMMARY_LIMIT} more (see the annotations)")
    return lines


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def read_bool(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "false"):
        return False
    if value == "true":
        return True
    raise ConfigError(f"{name} must be 'true' or 'false', got {value!r}")


def resolve_source(workspace: str) -> Tuple[str, str]:
    source = os.environ.get("SOURCE", "dags")
    if not source.strip():
        raise ConfigError(
            "Input 'source' is empty: give the DAG folder, relative to the workspace."
        )
    folder = os.path.abspath(os.path.join(workspace, source))
    if not os.path.isdir(folder):
        raise ConfigError(
            f"Input 'source': DAG folder '{source}' does not exist"
            f" (looked for {folder}). Check out the repository first and check the path."
        )
    return source, folder


def validate() -> int:
    workspace = os.path.abspath(os.environ.get("GITHUB_WORKSPACE") or os.getcwd())
    source, folder = resolve_source(workspace)
    run_import = read_bool("IMPORT")

    # Sorted by path, so annotations and the summary read in tree order.
    files = sorted(find_python_files(folder))
    compile_problems = [problem for problem in map(compile_file, files) if problem]
    for problem in compile_problems:
        annotate(
            "error",
            problem.message,
            file=workspace_relative(problem.path, workspace),
            line=problem.line,
            col=problem.col,
            title=problem.title,
        )
    outputs = {"files": str(len(files)), "dags": "", "import-errors": ""}
    summary = [
        "### DAG validation",
        "",
        f"- Compiled {plural(len(files), 'Python file')} in `{source}`",
    ]

    if not files:
        annotate(
            "warning", f"No .py files in '{source}': nothing to validate.", title="No DAG files"
        )

    if compile_problems:
        summary.append(f"- **{plural(len(compile_problems), 'file')} failed to compile:**")
        summary.extend("  " + line for line in summary_lines(compile_problems, workspace))
        if run_import:
            summary.append("- Import check skipped: fix the compile errors first")
        write_outputs(outputs)
        write_summary("\n".join(summary) + "\n")
        print(f"{NAME}: {plural(len(compile_problems), 'file')} of {len(files)} failed to compile")
        return 1

    if not run_import:
        write_outputs(outputs)
        write_summary("\n".join(summary) + "\n- All compiled (import check not run)\n")
        print(f"{NAME}: {plural(len(files), 'Python file')} in {source} compiled cleanly")
        return 0

    try:
        dag_count, import_problems = import_check(folder)
    except AirflowUnavailable as error:
        annotate("error", str(error), title="Airflow not installed")
        write_outputs(outputs)
        write_summary("\n".join(summary) + "\n- Import check failed: Airflow is not installed\n")
        return 1
    except (Exception, SystemExit) as error:  # a DAG calling sys.exit() too
        # DagBag records ordinary import errors itself; this is Airflow failing
        # outside that (configuration, a DAG exiting the process): one clear
        # error instead of a bare traceback, and no partial counts.
        annotate("error", f"{type(error).__name__}: {error}", title="Airflow DagBag failed")
        write_outputs(outputs)
        summary.append("- Import check failed: Airflow's DagBag did not load")
        write_summary("\n".join(summary) + "\n")
        return 1

    outputs["dags"] = str(dag_count)
    outputs["import-errors"] = str(len(import_problems))
    for problem in import_problems:
        annotate(
            "error",
            problem.message,
            file=workspace_relative(problem.path, workspace),
            line=problem.line,
            title=problem.title,
        )
    summary.append(f"- Airflow DagBag found {plural(dag_count, 'DAG')}")
    if dag_count == 0:
        annotate(
            "warning",
            f"Airflow found no DAGs in '{source}'. Is this the DAG folder?",
            title="No DAGs found",
        )
    write_outputs(outputs)

    if import_problems:
        summary.append(f"- **{plural(len(import_problems), 'import error')}:**")
        summary.extend("  " + line for line in summary_lines(import_problems, workspace))
        write_summary("\n".join(summary) + "\n")
        print(f"{NAME}: {plural(len(import_problems), 'DAG file')} failed to import")
        return 1

    write_summary("\n".join(summary) + "\n")
    print(
        f"{NAME}: {plural(len(files), 'Python file')} in {source} compiled and"
        f" {plural(dag_count, 'DAG')} imported without errors"
    )
    return 0


def main() -> int:
    try:
        return validate()
    except ConfigError as error:
        annotate("error", str(error), title=NAME)
        return 1


if __name__ == "__main__":
    sys.exit(main())
