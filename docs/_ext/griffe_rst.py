"""A griffe extension that lets mkdocstrings render cgn-art's docstrings as they are written.

The docstrings are written for ``help()`` and doctest: reST roles (:func:`name`) and ``>>>``
examples with no fence. Markdown would show the roles raw and turn ``>>>`` into nested block
quotes (and read ``[...]`` in an example's output as a broken link). This rewrites, for the docs
only: a role becomes inline code of its name, and a run of ``>>>`` lines with their output becomes
a ``pycon`` code block. The docstrings in the code stay as they are.
"""
from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|data|attr|exc|obj|const)?:`~?([^`]+)`")


def _role(match: re.Match) -> str:
    target = match.group(1)
    shown = target.rsplit(".", 1)[-1] if match.group(0).count("~") else target
    return f"`{shown}`"


def convert(text: str) -> str:
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            block = []
            while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
                block.append(lines[i][len(indent):])
                i += 1
            if out and out[-1].strip():
                out.append("")
            out.extend([f"{indent}```pycon", *(f"{indent}{b}" for b in block), f"{indent}```", ""])
            continue
        out.append(ROLE.sub(_role, line))
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring once its object is loaded (see the module docstring)."""

    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
