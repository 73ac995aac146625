"""One vocabulary: every public core constructor's parameters are in the glossary."""

import inspect

import jaxsched as js
from jaxsched._glossary import GLOSSARY, NAMES

# Functions that build something to train with (the rest of the public names read, show or
# find things: describe, plot, report, ...).
BUILDERS = ("reduce_on_plateau", "param_groups", "layerwise_decay")


def core_schedules():
    """Every public schedule class of the core (stateless or stateful), by name."""
    return {name: obj for name in js.__all__
            if inspect.isclass(obj := getattr(js, name))
            and issubclass(obj, js.Schedule | js.StatefulSchedule)
            and obj not in (js.Schedule, js.StatefulSchedule)}


def core_constructors():
    return {**core_schedules(), **{name: getattr(js, name) for name in BUILDERS}}


def test_every_core_parameter_is_in_the_glossary():
    unknown = {f"{name}({p})" for name, obj in core_constructors().items()
               for p in inspect.signature(obj).parameters if p not in NAMES}
    assert not unknown, f"not in jaxsched/_glossary.py: {sorted(unknown)}"


def test_the_glossary_has_no_unused_or_duplicate_names():
    used = {p for obj in core_constructors().values() for p in inspect.signature(obj).parameters}
    assert NAMES <= used, f"glossary names no constructor takes: {sorted(NAMES - used)}"
    assert len(NAMES) == sum(len(g) for g in GLOSSARY.values())


def test_pytorch_and_hf_names_stay_in_their_modules():
    foreign = {"lr", "T_max", "T_0", "T_mult", "eta_min", "step_size", "total_iters",
               "num_warmup_steps", "num_training_steps", "max_lr", "base_lr", "low", "high",
               "step_size_up", "anneal", "anneal_strategy", "every_n"}
    assert not (foreign & NAMES)


def test_the_readme_glossary_is_this_table():
    import pathlib

    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Glossary", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # no header
    want = [f"| {kind if i == 0 else ''} | `{name}` | {meaning} |"
            for kind, group in GLOSSARY.items() for i, (name, meaning) in enumerate(group.items())]
    assert rows == want  # the same kinds, names, meanings and order
