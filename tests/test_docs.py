"""The README and the docs site.

A short README linking every page, generated tables up to date, every Python code block runs, and
``mkdocs build --strict`` passes (no broken link or anchor, every page in the navigation).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from zgen_otel import semconv
from zgen_otel.variables import ENV_VARS, ENVIRONMENT_ONLY

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def nav_pages() -> list[str]:
    """Every page of the site's navigation (paths under docs/), in order."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    pages: list[str] = []

    def walk(items: list[object]) -> None:
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            if isinstance(value, list):
                walk(value)
            else:
                pages.append(str(value))

    walk(config["nav"])
    return pages


def table_column(page: str, marker: str) -> list[str]:
    """The first cell of each row of a generated table (between its markers), without the header."""
    text = (DOCS / page).read_text(encoding="utf-8")
    block = text.split(f"<!-- generated: {marker} -->", 1)[1].split(f"<!-- end: {marker} -->", 1)[0]
    rows = [line for line in block.splitlines() if line.startswith("| `")]
    return [row.split("|")[1].strip().strip("`") for row in rows]


def test_the_readme_is_short_and_links_every_docs_page() -> None:
    assert len(README.splitlines()) <= 200
    linked = set(re.findall(r"\]\(docs/([^)#]+\.md)", README))
    missing = [page for page in nav_pages() if page != "index.md" and page not in linked]
    assert missing == [], f"docs pages the README does not link: {missing}"
    assert all((DOCS / page).is_file() for page in linked), "the README links a page that does not exist"
    assert "seed" not in README.lower()


def test_the_readme_example_is_the_first_agent_example() -> None:
    example = (ROOT / "examples" / "first_agent.py").read_text(encoding="utf-8")
    (first, *_) = PYTHON_BLOCK.findall(README)
    assert example.endswith(first), "README's agent example and examples/first_agent.py differ"
    assert '--8<-- "examples/first_agent.py' in (DOCS / "getting-started.md").read_text(encoding="utf-8")


def test_generated_tables_are_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(DOCS / "generate.py"), "--check"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_the_configuration_page_names_every_setting_and_only_settings() -> None:
    variables = table_column("configuration.md", "settings")
    known = [v.env for v in ENV_VARS.values()] + list(ENVIRONMENT_ONLY)
    assert sorted(variables) == sorted(known)
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert all(f"| `{keyword}` |" in text for keyword in ENV_VARS)


def test_the_metric_names_page_names_every_metric_the_package_emits() -> None:
    names = table_column("metric-names.md", "metrics")
    assert sorted(names) == sorted(m.name for m in semconv.ALL_INSTRUMENTS)


def _blocks(path: Path) -> list[str]:
    return PYTHON_BLOCK.findall(path.read_text(encoding="utf-8"))


PAGES_WITH_CODE = [p for p in ["README.md", *(f"docs/{page}" for page in nav_pages())]
                   if (ROOT / p).is_file() and _blocks(ROOT / p)]  # fmt: skip

# Runs a page's blocks in order in one namespace, as a reader would paste them into one session.
RUNNER = """
import json, sys, traceback
blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for i, block in enumerate(blocks):
    try:
        exec(compile(block, f"<block {i + 1}>", "exec"), namespace)
    except BaseException:
        print(f"block {i + 1} failed:\\n{block}", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""


@pytest.mark.parametrize("page", PAGES_WITH_CODE)
def test_every_python_block_of_the_page_runs(page: str, tmp_path: Path) -> None:
    blocks = [block.replace('--8<-- "', "# included: ") for block in _blocks(ROOT / page)]
    snippet = re.compile(r'^# included: ([^":]+)(?::(\d+))?"?$', re.M)
    for i, block in enumerate(blocks):  # a block that includes a file runs that file's lines
        found = snippet.search(block)
        if found:
            lines = (ROOT / found[1]).read_text(encoding="utf-8").splitlines(keepends=True)
            blocks[i] = "".join(lines[int(found[2] or 1) - 1 :])
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    env = {k: v for k, v in os.environ.items()
           if k == "ZGEN_OTEL_HOST_LOCK" or not k.startswith(("OTEL_", "MONITORING_", "ZGEN_OTEL_"))}  # fmt: skip
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", RUNNER, str(tmp_path / "blocks.json")], capture_output=True,
                            text=True, timeout=180, cwd=tmp_path, env=env, input="\n" * 10)  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mkdocs is missing: pip install -e '.[docs]'")
        pytest.skip("mkdocs is not installed (the docs extra)")
    result = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    built = {p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("index.html")}
    expected = {"index.html" if page == "index.md" else page.removesuffix(".md") + "/index.html"
                for page in nav_pages()}  # fmt: skip
    assert expected <= built
    api = (tmp_path / "site" / "reference" / "zgen_otel" / "index.html").read_text(encoding="utf-8")
    assert all(f'id="zgen_otel.{name}"' in api for name in ("record_metric", "track", "configure", "start_server"))
