"""Carrying an optimizer state into a changed optimizer (``js.migrate``).

Each leaf of a state gets a key from the path of optax states down to it,
with the state types along the way (``[0]ScaleByAdamState.mu['w']``) and with
wrappers that the change may add or remove left out: ``inject_hyperparams``
(its ``inner_state``) and ``MultiSteps`` (its ``inner_opt_state``). Leaves of
equal keys are carried over; a second pass matches what is left without the
chain positions, where that is unambiguous (a ``clip`` put in front of the
optimizer). Step counts, hyperparameters and plateau states have rules of
their own (see ``migrate``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.tree_util import DictKey, GetAttrKey, SequenceKey

from . import _plateau
from ._opt_state import has_count, inject_types, is_plateau, optax_state, unwrap


class _Leaf(NamedTuple):
    key: str  # the path of state types and fields, wrappers left out
    loose: str  # the same without chain positions
    # "plateau", "count" (a state's step count), "hyper" (injected values), "gradient_step"
    # (MultiSteps' count of updates), "counter" (MultiSteps' other counters), "leaf"
    kind: str
    where: str  # jax's keystr of the path, for messages
    value: Any


def _leaves(tree: Any) -> list[_Leaf]:
    injects = inject_types()
    pairs, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_plateau)
    out = []
    for path, value in pairs:
        node, key, loose, kind = tree, [], [], "leaf"
        for entry in path:
            transparent = (
                (isinstance(node, injects) and entry == GetAttrKey("inner_state"))
                or (isinstance(node, optax.MultiStepsState)
                    and entry == GetAttrKey("inner_opt_state")))
            if isinstance(entry, GetAttrKey):
                if isinstance(node, injects) and entry.name in ("hyperparams",
                                                                "hyperparams_states"):
                    kind = "hyper"
                if isinstance(node, optax.MultiStepsState) and not transparent:
                    kind = "gradient_step" if entry.name == "gradient_step" else "counter"
                if has_count(node) and entry.name == "count":
                    kind = "count"
                part = f"{type(node).__name__}.{entry.name}"
                node = getattr(node, entry.name)
            elif isinstance(entry, DictKey):
                part = f"[{entry.key!r}]"
                node = node[entry.key]
            elif isinstance(entry, SequenceKey):
                part = f"[{entry.idx}]"
                node = node[entry.idx]
            else:  # a custom pytree node: its flattened position
                part = jax.tree_util.keystr((entry,))
                children, _ = jax.tree_util.default_registry.flatten_one_level(node)
                node = list(children)[entry.key]
            if not transparent:
                key.append(part)
                if not isinstance(entry, SequenceKey):
                    loose.append(part)
        if is_plateau(value):
            kind = "plateau"
        out.append(_Leaf("".join(key), "".join(loose), kind,
                         jax.tree_util.keystr(path), value))
    return out


def _match(old: list[_Leaf], new: list[_Leaf]) -> dict[int, int]:
    """``{new index: old index}``: equal keys, then equal loose keys where unique."""
    by_key = {leaf.key: i for i, leaf in enumerate(old)}
    pairs = {j: by_key[leaf.key] for j, leaf in enumerate(new) if leaf.key in by_key}
    taken = set(pairs.values())

    def unique(leaves: list[_Leaf], skip: set[int]) -> dict[str, int]:
        seen: dict[str, list[int]] = {}
        for i, leaf in enumerate(leaves):
            if i not in skip:
                seen.setdefault(leaf.loose, []).append(i)
        return {k: v[0] for k, v in seen.items() if len(v) == 1}

    old_loose, new_loose = unique(old, taken), unique(new, set(pairs))
    for k, j in new_loose.items():
        if k in old_loose:
            pairs[j] = old_loose[k]
    return pairs


def _carry(fn: str, o: _Leaf, n: _Leaf) -> Any:
    a, b = jnp.asarray(o.value), jnp.asarray(n.value)
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: cannot carry {o.where} of the old state into {n.where} of the new one: "
            f"shape {a.shape} against {b.shape}. Build both optimizers for the same params.")
    return a.astype(b.dtype)


def migrate(old_state: Any, new_optimizer: optax.GradientTransformation, params: Any, *,
            step: Any = None, strict: bool = True, reset_plateau: bool = False) -> Any:
    """Carries an optimizer state into the state of a changed optimizer.

    For a run resumed with a changed optimizer: a plain schedule turned into a
    ``js.plateau`` or back, a new schedule, ``inject_hyperparams`` added or
    removed, a ``clip`` put in front. Restore the checkpoint with the old
    optimizer's state as the target, then ``js.migrate`` it. The new state is
    ``new_optimizer.init(params)`` with:

    * every moment (``mu``, ``nu``, momentum traces, ...) carried from the
      leaf of the old state at the same place (the same chain of optax states
      and fields, ``inject_hyperparams`` and ``MultiSteps`` wrappers left
      out);
    * every step count (``count`` fields, ``MultiSteps``' ``gradient_step``)
      carried where matched, else set to ``step``, so schedules go on from
      the step the run reached;
    * a ``js.plateau`` (or ``js.reduce_on_plateau``) new to the optimizer
      fresh (scale 1, no best) at ``step``; one at the same place in both
      keeps its decisions (scale, best, counters) under the new rules and
      base schedule, unless ``reset_plateau``; one only in the old state is
      dropped;
    * injected hyperparameters carried where matched (the value of the last
      update, which the next update recomputes), else as initialised.

    Args:
      old_state: the restored optax state (``TrainState.opt_state``; nnx
        Variables are unwrapped).
      new_optimizer: the optimizer to go on with.
      params: the parameters, for ``new_optimizer.init``.
      step: the number of updates the run has made; by default the first step
        count found in ``old_state``.
      strict: raise when a moment of either state has no counterpart; with
        ``False`` old ones are dropped and new ones start as initialised.
      reset_plateau: start every plateau fresh, even where the old state had
        one at the same place.

    Returns:
      A state of ``new_optimizer``.

    Raises:
      ValueError: if a leaf cannot be carried (its shape differs), moments
        have no counterpart (``strict``; the message lists them), or a step is
        needed and ``old_state`` holds none (pass ``step=``).

    >>> import jax.numpy as jnp, optax, jaxsched as js
    >>> lr = js.linear(1.0, 0.0, 10)
    >>> old = optax.adam(lr)
    >>> params = jnp.zeros(2)
    >>> state = old.init(params)
    >>> for _ in range(3):
    ...     _, state = old.update(jnp.ones(2), state)
    >>> new = optax.inject_hyperparams(optax.adam)(learning_rate=js.plateau(lr, patience=2))
    >>> state = js.migrate(state, new, params)
    >>> print(f"{js.current_lr(state):.2f}", int(state.inner_state[0].count))
    0.70 3
    """
    fn = "migrate"
    old_leaves = _leaves(unwrap(optax_state(old_state)))
    if step is None:
        count = next((o.value for o in old_leaves if o.kind == "count"), None)
        step = None if count is None else jnp.asarray(count, jnp.int32)
    start = 0 if step is None else step
    with _plateau.starting_at(start):
        fresh = new_optimizer.init(params)
    new_leaves = _leaves(fresh)
    pairs = _match(old_leaves, new_leaves)
    values, lost = [], []
    for j, n in enumerate(new_leaves):
        o = old_leaves[pairs[j]] if j in pairs else None
        if n.kind == "plateau":
            keep = o is not None and is_plateau(o.value) and not reset_plateau
            values.append(_plateau.carry_decisions(o.value, n.value) if keep else n.value)
        elif o is not None and o.kind != "plateau":
            values.append(_carry(fn, o, n))
        elif n.kind in ("count", "gradient_step"):
            if step is None:
                raise ValueError(
                    f"{fn}: the new state counts steps ({n.where}) and the old one holds no "
                    "step count: pass the number of updates made, js.migrate(..., step=n).")
            values.append(jnp.full_like(n.value, step))
        else:
            if n.kind == "leaf":
                lost.append(f"new {n.where} ({n.key})")
            values.append(n.value)
    carried = set(pairs.values())
    lost += [f"old {o.where} ({o.key})" for i, o in enumerate(old_leaves)
             if i not in carried and o.kind == "leaf"]
    if strict and lost:
        shown = "; ".join(lost[:6]) + ("; ..." if len(lost) > 6 else "")
        raise ValueError(
            f"{fn}: {len(lost)} leaves of the states cannot be matched: {shown}. Optimizer "
            "states match where the same optax states hold them (inject_hyperparams and "
            "MultiSteps may come and go); pass strict=False to drop the old ones and start "
            "the new ones as initialised.")
    treedef = jax.tree_util.tree_structure(fresh, is_leaf=is_plateau)
    return jax.tree_util.tree_unflatten(treedef, values)

