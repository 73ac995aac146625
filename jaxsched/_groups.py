"""Per-group schedules: PyTorch's ``param_groups`` for optax, by path patterns.

``param_groups`` sorts the leaves of a parameter pytree into named groups by
regular expressions on their "/"-joined key paths, gives each group a schedule
(its own, or a multiplier of one base schedule, or a layer-wise decay of it),
and builds the ``optax.multi_transform`` whose labels are the group names.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

import jax
import optax

from . import _checks as check
from ._opt_state import is_var, nnx_module
from ._schedule import Schedule, as_schedule, is_stateful


@dataclasses.dataclass(frozen=True, repr=False)
class layerwise_decay:  # noqa: N801 - a rule value named like the constructors
    """A rule value for layer-wise LR decay (LLRD): ``lr * decay ** depth``, by layer index.

    Layer ``i`` (``0`` nearest the input, ``num_layers - 1`` nearest the head)
    gets depth ``num_layers - i``; the embeddings are one deeper
    (``layer=-1``: depth ``num_layers + 1``) and the head and everything in the
    default group have depth 0, as in BEiT and the ELECTRA/DeBERTa fine-tuning
    recipes. The index comes from the rule's pattern: its group named ``layer``,
    else its first group (``r"encoder/layers_(\\d+)/.*"``), unless ``layer`` fixes
    it. Each layer becomes its own group, named ``"<rule name>/<index>"``.

    Args:
      decay: the factor per layer of depth, a number > 0 (usually 0.65 to 0.95).
      num_layers: how many layers the captured index counts, a positive int.
      layer: a fixed layer index for every parameter the rule matches, an int in
        ``[-1, num_layers]`` (``-1``: the embeddings), or None to capture it from the path.

    Raises:
      ValueError: for ``decay <= 0`` or ``layer`` out of range.
      TypeError: for a non-int ``num_layers`` or ``layer``.

    >>> import jaxsched as js
    >>> d = js.layerwise_decay(0.5, num_layers=4)
    >>> print(f"{d.multiplier(3):.4f} {d.multiplier(0):.4f} {d.multiplier(-1):.4f}")
    0.5000 0.0625 0.0312
    """

    decay: float
    num_layers: int
    layer: int | None = None

    def __post_init__(self) -> None:
        fn = "layerwise_decay"
        object.__setattr__(self, "decay", check.number(fn, "decay", self.decay, min=0.0,
                                                       min_open=True))
        object.__setattr__(self, "num_layers", check.integer(fn, "num_layers", self.num_layers,
                                                             min=1))
        if self.layer is not None:
            layer = check.integer(fn, "layer", self.layer, min=-1)
            if layer > self.num_layers:
                raise ValueError(f"{fn}: `layer` must be in [-1, num_layers] = [-1, "
                                 f"{self.num_layers}], got {layer}.")
            object.__setattr__(self, "layer", layer)

    def multiplier(self, layer: int) -> float:
        """``decay ** (num_layers - layer)``: the factor for layer index ``layer``."""
        return self.decay ** (self.num_layers - layer)

    def __repr__(self) -> str:
        extra = "" if self.layer is None else f", layer={self.layer}"
        return f"layerwise_decay({self.decay!r}, num_layers={self.num_layers}{extra})"


@dataclasses.dataclass(frozen=True, eq=False)  # one per entry of `rules`, told apart by identity
class _Rule:
    name: str
    patterns: tuple[re.Pattern, ...]
    value: Any  # a Schedule (own schedule), a float (multiplier) or a layerwise_decay
    extra: dict[str, Any]  # other hyperparameters of the group's optimizer (weight_decay=0.0)

    def match(self, path: str) -> re.Match | None:
        for p in self.patterns:
            m = p.fullmatch(path)
            if m is not None:
                return m
        return None

    def text(self) -> str:
        texts = [p.pattern for p in self.patterns]
        return repr(texts[0]) if len(texts) == 1 else repr(texts)


@dataclasses.dataclass(frozen=True)
class _Group:
    """A group as ``param_groups`` builds it: its name, the rule that made it and, for a
    ``layerwise_decay`` rule, its layer index (captured from the path or fixed)."""

    name: str  # what users see: the rule's name, or "<rule name>/<index>" per captured layer
    rule: _Rule
    layer: int | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class ParamGroups:
    """Parameter groups with a schedule each; build one with ``js.param_groups``.

    Attributes:
      labels: a pytree shaped like the parameters, holding each leaf's group name
        (what ``optax.multi_transform``/``optax.partition`` take as labels).
      schedules: ``{group name: schedule}``, in rule order, the default group last.
      paths: ``{group name: tuple of "/"-joined parameter paths}``.
      hyperparams: ``{group name: {name: value}}``, the other hyperparameters a
        rule set for its groups (``weight_decay=0.0``); empty for the rest.
    """

    labels: Any
    schedules: dict[str, Any]
    paths: dict[str, tuple[str, ...]]
    hyperparams: dict[str, dict[str, Any]]
    _classify: Callable[[str], str] = dataclasses.field(repr=False)

    def label_fn(self, params: Any) -> Any:
        """The group name of every leaf of ``params`` (a tree with the same paths), as a pytree."""
        return _map_paths(self._classify, params)

    def transform(self, make_optimizer: Callable[..., Any], **hyperparams: Any) -> Any:
        """An ``optax.multi_transform`` with one ``inject_hyperparams(make_optimizer)`` per group.

        Each group's optimizer is ``optax.inject_hyperparams(make_optimizer)(
        learning_rate=schedules[group], **{**hyperparams, **self.hyperparams[group]})``,
        so its learning rate is in the state under the group's name
        (``opt_state.inner_states[group]``) and logs as ``"<group>/learning_rate"``.

        Args:
          make_optimizer: an optax optimizer factory taking ``learning_rate``
            (``optax.adamw``, ``optax.sgd``), not an optimizer.
          **hyperparams: further arguments for every group (``weight_decay=1e-2``),
            numbers or schedules; a rule's own hyperparameters take precedence.

        Returns:
          An ``optax.GradientTransformation``.

        Raises:
          TypeError: if ``make_optimizer`` is an optimizer rather than a factory.
        """

        if isinstance(make_optimizer, optax.GradientTransformation) or not callable(
                make_optimizer):
            raise TypeError(f"param_groups.transform: `make_optimizer` must be an optimizer "
                            f"factory such as optax.adamw (each group calls it with its own "
                            f"learning_rate), got {make_optimizer!r}.")
        inject = optax.inject_hyperparams(make_optimizer)
        transforms = {g: inject(learning_rate=s, **{**hyperparams, **self.hyperparams[g]})
                      for g, s in self.schedules.items()}
        return optax.multi_transform(transforms, self.label_fn)

    def __repr__(self) -> str:
        lines = [f"ParamGroups({len(self.schedules)} groups)"]
        for g, s in self.schedules.items():
            n = len(self.paths[g])
            lines.append(f"  {g}: {n} {'leaf' if n == 1 else 'leaves'}, {s!r}")
        return "\n".join(lines)


def param_groups(params: Any, rules: Mapping[str, Any], default: Any, *,
                 default_group: str = "default") -> ParamGroups:
    """Sorts parameters into named groups by path patterns, each with its own schedule.

    Every leaf of ``params`` has a path, its keys joined by ``"/"``
    (``"encoder/layers_3/attn/kernel"``; an ``nnx.Param``'s ``.value`` is not part
    of it). ``rules`` maps a group name to ``(pattern, value)``; the pattern is a
    regular expression that must match the **whole** path (``re.fullmatch``, as
    big_vision's masks), or a list of them. Rules are tried in order and the first
    match wins; leaves that no rule matches form the group ``default_group`` with
    the schedule ``default``. The value of a rule is

    - a schedule (or a function of the step): the group's own schedule;
    - a number ``m``: ``m * default`` (a multiplier of the base schedule; for a
      fixed learning rate write ``js.constant(v)``);
    - ``js.layerwise_decay(decay, num_layers)``: ``decay ** depth * default`` by
      layer index, one group per layer, named ``"<name>/<index>"``;
    - a dict of hyperparameters for the group's optimizer: ``"learning_rate"``
      takes any of the above (default: ``default``), the others are passed to
      it as given (``{"weight_decay": 0.0}``: no decay on biases and norms).

    A rule that matches no parameter is an error (a typo in a pattern would
    otherwise train that part of the model at the default LR unnoticed).

    Args:
      params: the parameter pytree (a dict of arrays, a linen ``params`` dict, an
        ``nnx.State``), or an ``nnx.Module`` (its ``nnx.Param`` state is used).
      rules: ``{group name: (pattern or [patterns], schedule | multiplier |
        layerwise_decay | {hyperparameter: value})}``, in priority order.
      default: the schedule (or number) of the default group and the base of the
        multipliers; may be None only when every leaf matches a rule and no rule
        is a multiplier.
      default_group: the default group's name.

    Returns:
      A ``ParamGroups``: ``.labels`` (a pytree of group names like ``params``),
      ``.schedules`` (``{group: schedule}``), ``.paths``, ``.hyperparams`` and
      ``.transform(optax.adamw, ...)`` building the ``multi_transform``.

    Raises:
      TypeError: for rules that are not a dict of ``(pattern, value)`` pairs, a
        pattern that is not a str, or a value that is not a schedule, number,
        ``layerwise_decay`` or dict of hyperparameters.
      ValueError: for an invalid regular expression, a rule that matches
        nothing, a layer index out of range, clashing group names, or leaves
        left without a schedule because ``default`` is None.

    >>> import numpy as np, jaxsched as js
    >>> params = {"embed": np.zeros(4), "layers_0": {"w": np.zeros(4)},
    ...           "layers_1": {"w": np.zeros(4)}, "head": {"w": np.zeros(4)}}
    >>> groups = js.param_groups(params, {
    ...     "embed": (r"embed", js.layerwise_decay(0.5, num_layers=2, layer=-1)),
    ...     "layers": (r"layers_(\\d+)/.*", js.layerwise_decay(0.5, num_layers=2)),
    ... }, default=js.constant(1.0))
    >>> groups.labels["layers_1"]["w"], groups.labels["head"]["w"]
    ('layers/1', 'default')
    >>> for g, s in groups.schedules.items():
    ...     print(f"{g}: {s(0):.3f}")
    embed: 0.125
    layers/0: 0.250
    layers/1: 0.500
    default: 1.000
    """
    fn = "param_groups"
    params = _param_state(params)
    parsed = _parse_rules(rules)
    if not isinstance(default_group, str) or not default_group:
        raise TypeError(f"{fn}: `default_group` must be a non-empty str, got {default_group!r}.")
    if default is None or is_stateful(default):
        base = default
    else:
        base = as_schedule(default, fn, "default")

    paths = _leaf_paths(params)
    members: dict[_Group, list[str]] = {}  # in the order the groups first appear
    unmatched: list[str] = []
    group_of: dict[str, _Group] = {}  # every path matched once; labels and label_fn read this
    for path in paths:
        rule, m = _first_match(parsed, path)
        if rule is None:
            unmatched.append(path)
            continue
        group_of[path] = _group(rule, m, path)
        members.setdefault(group_of[path], []).append(path)

    for rule in parsed:
        if not any(g.rule is rule for g in members):
            shown = ", ".join(repr(p) for p in paths[:5])
            more = f", ... ({len(paths)} in all)" if len(paths) > 5 else ""
            raise ValueError(f"{fn}: rule {rule.name!r} (pattern {rule.text()}) matches no "
                             f"parameter; patterns must match the whole \"/\"-joined path, and "
                             f"paths look like {shown}{more}. Fix the pattern or remove the rule.")
    if base is None and unmatched:
        raise ValueError(f"{fn}: {len(unmatched)} parameters match no rule (e.g. "
                         f"{unmatched[0]!r}) and `default` is None; give `default` a "
                         "schedule for them, or add a rule that matches them.")
    for rule in parsed:
        if not _own(rule.value) and not isinstance(base, Schedule):
            what = "None" if base is None else "a stateful schedule"
            raise ValueError(f"{fn}: rule {rule.name!r} is a multiplier ({rule.value!r}) of "
                             f"`default`, which is {what}; multipliers need a (stateless) base "
                             "schedule as `default`.")

    schedules: dict[str, Any] = {}
    groups: dict[str, tuple[str, ...]] = {}
    extra: dict[str, dict[str, Any]] = {}
    for rule in parsed:
        # A layer-wise rule's groups in layer order; any other rule has a single group.
        for g in sorted((g for g in members if g.rule is rule), key=lambda g: g.layer or 0):
            schedules[g.name] = _schedule_of(g, base)
            groups[g.name] = tuple(members[g])
            extra[g.name] = dict(rule.extra)
    if unmatched:
        if default_group in schedules:
            raise ValueError(f"{fn}: the default group's name {default_group!r} is also a rule's "
                             "group; rename the rule or pass default_group=...")
        schedules[default_group] = base
        groups[default_group] = tuple(unmatched)
        extra[default_group] = {}

    def classify(path: str) -> str:
        if path in group_of:
            return group_of[path].name
        rule, m = _first_match(parsed, path)  # a path of another tree of the same model
        return default_group if rule is None else _group(rule, m, path).name

    return ParamGroups(labels=_map_paths(classify, params), schedules=schedules, paths=groups,
                       hyperparams=extra, _classify=classify)


# ----------------------------------------------------------------- rules
def _parse_rules(rules: Any) -> tuple[_Rule, ...]:
    fn = "param_groups"
    if not isinstance(rules, Mapping):
        raise TypeError(f"{fn}: `rules` must be a dict {{group name: (pattern, value)}}, e.g. "
                        f"{{'head': (r'head/.*', 10.0)}}, got {rules!r}.")
    parsed = []
    for name, spec in rules.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise TypeError(f"{fn}: group names must be non-empty strs without '/', got "
                            f"{name!r}.")
        if not isinstance(spec, tuple | list) or len(spec) != 2:
            raise TypeError(f"{fn}: rule {name!r} must be a (pattern, value) pair, got {spec!r}.")
        pattern, value = spec
        lr, extra = _split(name, value)
        parsed.append(_Rule(name, _patterns(name, pattern), _value(name, lr), extra))
    for rule in parsed:
        if isinstance(rule.value, layerwise_decay) and rule.value.layer is None:
            for p in rule.patterns:
                if p.groups == 0:
                    raise ValueError(f"{fn}: rule {rule.name!r} takes the layer index from the "
                                     f"path, so its pattern {p.pattern!r} needs a group that "
                                     r"captures it, e.g. r'layers_(\d+)/.*'; or fix the index "
                                     "with layerwise_decay(..., layer=i).")
    return tuple(parsed)


def _patterns(name: str, pattern: Any) -> tuple[re.Pattern, ...]:
    items = list(pattern) if isinstance(pattern, list | tuple) else [pattern]
    if not items:
        raise ValueError(f"param_groups: rule {name!r} has an empty list of patterns.")
    out = []
    for p in items:
        if isinstance(p, re.Pattern):
            out.append(p)
            continue
        if not isinstance(p, str):
            raise TypeError(f"param_groups: rule {name!r}: a pattern must be a str (a regular "
                            f"expression), got {p!r}.")
        try:
            out.append(re.compile(p))
        except re.error as e:
            raise ValueError(f"param_groups: rule {name!r}: {p!r} is not a valid regular "
                             f"expression: {e}.") from None
    return tuple(out)


def _own(value: Any) -> bool:
    """Whether a rule value is the group's own schedule (rather than a multiplier of the base)."""
    return isinstance(value, Schedule) or is_stateful(value)


def _split(name: str, value: Any) -> tuple[Any, dict[str, Any]]:
    """A rule value as (learning-rate part, other hyperparameters)."""
    if not isinstance(value, Mapping):
        return value, {}
    extra = {}
    for key, v in value.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise TypeError(f"param_groups: rule {name!r}: hyperparameter names must be "
                            f"identifiers such as 'weight_decay', got {key!r}.")
        if key == "learning_rate":
            continue
        if not (isinstance(v, Schedule) or callable(v)):
            v = check.number("param_groups", f"rules[{name!r}][{key!r}]", v)
        extra[key] = v
    return value.get("learning_rate", 1.0), extra


def _value(name: str, value: Any) -> Any:
    if _own(value) or isinstance(value, layerwise_decay):
        return value
    if check.concrete_number(value) is not None:
        return check.number("param_groups", f"rules[{name!r}]", value, min=0.0,
                            allowed="a multiplier >= 0")
    if callable(value):
        return as_schedule(value, "param_groups", f"rules[{name!r}]")
    raise TypeError(f"param_groups: rule {name!r} must map to a schedule, a multiplier of "
                    f"`default` (a number), js.layerwise_decay(...) or a dict of "
                    f"hyperparameters, got {value!r}.")


def _first_match(rules: tuple[_Rule, ...], path: str) -> tuple[_Rule | None, re.Match | None]:
    for rule in rules:
        m = rule.match(path)
        if m is not None:
            return rule, m
    return None, None


def _group(rule: _Rule, m: re.Match, path: str) -> _Group:
    """The group of the parameter at ``path``, which ``rule`` matched (``m``)."""
    d = rule.value
    if not isinstance(d, layerwise_decay):
        return _Group(rule.name, rule)
    if d.layer is not None:
        return _Group(rule.name, rule, d.layer)
    text = m.group("layer") if "layer" in m.re.groupindex else m.group(1)
    if text is None or not text.isdigit() or not 0 <= int(text) < d.num_layers:
        raise ValueError(f"param_groups: rule {rule.name!r} captured the layer index {text!r} "
                         f"from {path!r}; it must be an int in [0, num_layers) = "
                         f"[0, {d.num_layers}).")
    return _Group(f"{rule.name}/{int(text)}", rule, int(text))


def _schedule_of(group: _Group, base: Any) -> Any:
    value = group.rule.value
    if _own(value):
        return value
    if isinstance(value, layerwise_decay):
        assert group.layer is not None  # _group gives every layer-wise group its index
        value = value.multiplier(group.layer)
    return base if value == 1.0 else value * base


# ----------------------------------------------------------------- paths
def _param_state(params: Any) -> Any:
    nnx = nnx_module()
    if nnx is not None and isinstance(params, nnx.Module):
        return nnx.state(params, nnx.Param)
    return params


def _path_text(path: tuple) -> str:
    return jax.tree_util.keystr(path, simple=True, separator="/")


def _leaf_paths(params: Any) -> list[str]:
    leaves = jax.tree_util.tree_flatten_with_path(params, is_leaf=is_var)[0]
    if not leaves:
        raise ValueError("param_groups: `params` has no leaves; pass the parameter pytree "
                         "(e.g. nnx.state(model, nnx.Param) or variables['params']).")
    return [_path_text(p) for p, _ in leaves]


def _map_paths(classify: Callable[[str], str], tree: Any) -> Any:
    def leaf(path: tuple, x: Any) -> Any:
        label = classify(_path_text(path))
        return jax.tree.map(lambda _: label, x) if is_var(x) else label

    return jax.tree_util.tree_map_with_path(leaf, tree, is_leaf=is_var)
