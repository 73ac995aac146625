"""The vocabulary of jaxsched's core constructors: one name per concept, one meaning each.

``tests/test_glossary.py`` fails when a public core constructor takes a parameter that
is not listed here, and README.md's "Glossary" section is this table. PyTorch's and
Hugging Face's names (``lr``, ``T_max``, ``num_warmup_steps``, ...) live only in
``jaxsched.pytorch`` and ``jaxsched.hf``.
"""

from __future__ import annotations

# Grouped by concept; within a group, one line per name.
GLOSSARY: dict[str, dict[str, str]] = {
    "values": {
        "start": "the value at step 0: a curve's first value, a warmup's first value, the "
                 "bottom of a cycle",
        "peak": "the highest value, reached after a warmup or a rise (the top of a cycle)",
        "end": "the value a finite course ends at and holds from then on (a decay's floor)",
        "value": "a constant's value",
        "values": "piecewise_constant's values, one per piece",
        "min": "clip's lower bound",
        "max": "clip's upper bound",
    },
    "lengths (static ints, in steps)": {
        "steps": "the length of a curve's own course (linear, cosine, a warmup's ramp, a "
                 "cooldown)",
        "total_steps": "the whole run's length, warmup and decay included",
        "warmup_steps": "a warmup's length; recipes that know total_steps also take a "
                        "fraction of it (a float in (0, 1))",
        "decay_steps": "the final decay's length (wsd); an int or a fraction of total_steps",
        "up_steps": "the rise of a cycle (cyclic)",
        "down_steps": "the fall of a cycle (cyclic)",
        "period": "one cycle's length: a restart (repeat, sgdr) or one gamma step "
                  "(exponential)",
        "period_mult": "how many times longer each cycle is than the one before",
        "steps_per_epoch": "optimizer updates per epoch (per_epoch)",
        "timescale": "inverse_sqrt's decay scale, in steps",
        "boundaries": "the steps where the next piece takes over",
        "milestones": "the steps where gamma is applied (multistep)",
        "knots": "interpolate's (step, value) pairs",
        "at": "the step a re-planned run resumes from (the checkpoint's step count)",
        "pct_start": "one-cycle's rising fraction of total_steps, floored (optax's and "
                     "PyTorch's rule)",
    },
    "multipliers": {
        "gamma": "the multiplier per period or milestone (per step in cyclic's 'exp_range')",
        "cycle_decay": "the multiplier of each restart cycle's height",
        "div_factor": "one-cycle: start = peak / div_factor",
        "final_div_factor": "one-cycle: the final value = start / final_div_factor",
        "decay": "layerwise_decay's multiplier per layer of depth",
    },
    "shapes": {
        "shape": "a curve's shape: 'linear', 'cosine' (and '1-sqrt' for a final decay)",
        "exponent": "the power of the cosine factor (optax's name; 1 is the plain cosine)",
        "power": "the power of a polynomial decay",
        "staircase": "exponential: floor the exponent t / period",
        "fractional": "per_epoch: pass fractional epochs instead of whole ones",
        "policy": "cyclic: how the height changes per cycle ('triangular', 'triangular2', "
                  "'exp_range')",
        "three_phase": "one-cycle: rise, fall back to start, then anneal to the end",
        "base_momentum": "one_cycle_momentum's low value, while the LR peaks",
        "max_momentum": "one_cycle_momentum's high value, at the start and the end",
    },
    "composition": {
        "schedule": "the schedule wrapped, repeated, clipped, re-planned or reduced",
        "schedules": "join's pieces, in time order",
        "new": "the schedule a restart switches to",
        "fn": "wrap's jnp-traceable function of the step",
        "name": "how a wrapped function prints",
    },
    "reduce on plateau": {
        "mode": "'min' (a loss) or 'max' (an accuracy)",
        "factor": "the multiplier of each reduction",
        "patience": "evaluations without improvement tolerated before a reduction",
        "threshold": "the improvement margin",
        "threshold_mode": "'rel' or 'abs' margin",
        "cooldown": "evaluations ignored after a reduction",
        "min_lr": "the LR floor a plateau never reduces below",
        "min_scale": "reduce_on_plateau's floor on its scale",
        "eps": "reductions that change the LR by less are skipped",
        "every": "metrics averaged per decision",
        "axis_name": "the mapped axis the metric is averaged over",
        "stop_patience": "evaluations without improvement before should_stop is true",
        "rel_margin": "'abs_best' or PyTorch's 'pytorch' relative margin",
        "nonfinite": "'bad' (NaN/inf never improve) or PyTorch's 'pytorch' comparisons",
    },
    "batch sizes and groups": {
        "increment": "batch_ramp's step between values",
        "rounding": "integer's rounding: 'nearest', 'floor' or 'ceil'",
        "batch": "the batch-size schedule an LR is scaled by",
        "base_batch": "the batch size the LR schedule was tuned for",
        "rule": "scale_by_batch's rule: 'linear' or 'sqrt'",
        "params": "the parameter pytree to split into groups",
        "rules": "param_groups' {group: (path pattern, value)}",
        "default": "the schedule of every parameter no rule matches",
        "default_group": "the name of that group",
        "num_layers": "layerwise_decay's number of layers",
        "layer": "layerwise_decay's layer index (or where to read it from the path)",
    },
}

NAMES: frozenset[str] = frozenset(name for group in GLOSSARY.values() for name in group)
