"""Documentation per argument (issue 9 §4): an IDE hover is the first documentation users read.

Every public constructor (the core schedules, ``reduce_on_plateau`` and the builders, and
every name of ``jaxsched.pytorch`` and ``jaxsched.hf``) has a Google-style ``Args:`` section
naming exactly the parameters of its signature, and every schedule (core, PyTorch, HF)
states its formula.
"""

import inspect
import re

import pytest

import jaxsched as js
from jaxsched import hf
from jaxsched import pytorch as pt

# Functions that build something to train with (the rest of the public names read, show or
# find things and document their own arguments).
BUILDERS = ("reduce_on_plateau", "param_groups", "layerwise_decay")


def _core_schedules():
    out = {}
    for name in js.__all__:
        obj = getattr(js, name)
        if inspect.isclass(obj) and issubclass(obj, js.Schedule | js.StatefulSchedule) \
                and obj not in (js.Schedule, js.StatefulSchedule):
            out[f"js.{name}"] = obj
    return out


def _constructors():
    out = dict(_core_schedules())
    out.update({f"js.{name}": getattr(js, name) for name in BUILDERS})
    out.update({f"pt.{name}": getattr(pt, name) for name in pt.__all__})
    out.update({f"hf.{name}": getattr(hf, name) for name in hf.__all__})
    return out


CONSTRUCTORS = _constructors()
CORE = _core_schedules()

_SECTION = re.compile(r"^(Args|Arguments|Returns|Yields|Raises|Examples?|Notes?|Attributes):\s*$")
_ENTRY = re.compile(r"^(\**\w+)(?: \([^)]*\))?:(?:\s|$)")


def documented_args(doc: str) -> list[str] | None:
    """The names of the ``Args:`` section's entries, in order; None without a section.

    The section ends at the next line indented no deeper than ``Args:`` (another
    section, or the doctest); an entry is a line at the first entry's indentation
    that reads ``name:`` or ``name (type):``, deeper lines continue it.
    """
    lines = inspect.cleandoc(doc).splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "Args:"]
    if not starts:
        return None
    head = lines[starts[0]]
    base = len(head) - len(head.lstrip())
    names: list[str] = []
    indent = None
    for line in lines[starts[0] + 1:]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if depth <= base:
            break
        if indent is None:
            indent = depth
        if depth == indent:
            m = _ENTRY.match(line.strip())
            assert m, f"not an Args entry (`name: what it is`): {line.strip()!r}"
            names.append(m.group(1).lstrip("*"))
    return names


def test_the_parser_reads_google_style():
    doc = """Summary.

    Args:
      a: the first, which
        goes on here.
      b (int): the second.
      **kwargs: the rest.

    Returns:
      c: not an argument.

    >>> 1
    1
    """
    assert documented_args(doc) == ["a", "b", "kwargs"]
    assert documented_args("Summary.\n\n>>> x: 1\n") is None
    assert documented_args("Summary.\n\nArgs:\n  a: one.\n>>> b: 2\n") == ["a"]


def test_every_kind_of_public_name_is_covered():
    assert {"js.cosine", "js.join", "js.wsd", "js.extend", "js.batch_ramp", "js.plateau",
            "js.reduce_on_plateau", "pt.StepLR", "pt.ReduceLROnPlateau", "hf.get_scheduler",
            "hf.get_wsd_schedule"} <= set(CONSTRUCTORS)
    assert len(CORE) >= 30
    assert len(CONSTRUCTORS) == len(CORE) + len(BUILDERS) + len(pt.__all__) + len(hf.__all__)


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_args_section_names_every_parameter(name):
    obj = CONSTRUCTORS[name]
    doc = obj.__doc__ or ""
    args = documented_args(doc)
    assert args is not None, f"{name}: no `Args:` section in its docstring"
    params = list(inspect.signature(obj).parameters)
    missing = [p for p in params if p not in args]
    extra = [a for a in args if a not in params]
    twice = sorted({a for a in args if args.count(a) > 1})
    assert not missing, f"{name}: `Args:` does not document {missing}"
    assert not extra, f"{name}: `Args:` documents {extra}, which the signature {params} lacks"
    assert not twice, f"{name}: `Args:` documents {twice} more than once"


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_each_argument_says_what_it_is(name):
    """One line per argument at least: a bare ``name:`` with nothing after it explains nothing."""
    lines = inspect.cleandoc(CONSTRUCTORS[name].__doc__ or "").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Args:"), None)
    assert start is not None, f"{name}: no `Args:` section in its docstring"
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        if not line.startswith(" "):
            break
        m = _ENTRY.match(line.strip())
        if m and line.startswith("  ") and not line.startswith("   "):
            rest = line.strip()[m.end():].strip()
            assert len(rest) >= 8, f"{name}: `{m.group(1)}` has no description: {line!r}"


# A formula is an equation in the step: ``lr(t) = ...`` (``n(t)``/``b(t)`` for the integer
# schedules), with ``t`` the step as every curve docstring defines it.
_FORMULA = re.compile(r"\b[a-z]+\(t\) = \S")


# Every schedule: the core ones, and PyTorch's and HF's (get_scheduler only dispatches by name).
SCHEDULES = {**CORE, **{name: obj for name, obj in CONSTRUCTORS.items()
                        if name[:3] in ("pt.", "hf.") and inspect.isclass(obj)}}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_states_its_formula(name):
    doc = SCHEDULES[name].__doc__ or ""
    assert _FORMULA.search(doc), (f"{name}: its docstring states no formula "
                                  "(an equation such as ``lr(t) = ...`` in the step t)")


def test_the_formula_rule_catches_prose():
    assert not _FORMULA.search("Linear warmup from ``start`` to ``peak``, then ``peak``.")
    assert _FORMULA.search("``lr(t) = peak`` for ``t >= warmup_steps``")


def test_cosine_hover_explains_exponent():
    """The issue's example: hovering ``js.cosine`` says what ``exponent`` does and its default."""
    args = js.cosine.__doc__.split("Args:", 1)[1].split(">>>", 1)[0]
    entry = args.split("exponent:", 1)[1]
    assert "cos" in entry and "1.0" in entry and "> 0" in entry, entry
