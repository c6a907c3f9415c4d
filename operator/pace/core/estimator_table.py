"""The named algorithms' hyperparameters and scikit-learn's declared constraints on them, as
a table the operator reads without importing scikit-learn (pure, apart from `generate`).

Importing any part of scikit-learn brings scipy and pandas with it (≈ 150 MB of the
operator's memory, and seconds of CPU on its first look). The spec checks
(`pace.core.spec_checks`) need only the algorithms' parameter names and the constraints each
estimator declares (``_parameter_constraints``, what its ``fit`` checks first). `generate`
writes them to ``estimator_table.json`` with the scikit-learn that the pipeline steps run
(``make estimator-table``; ``make lint`` fails when the file is stale), and `problem` applies
a constraint list to a JSON value as scikit-learn's ``validate_parameter_constraints`` does,
with its own words. `tests/unit/test_estimator_table.py` holds both to scikit-learn: the same
verdict and message for every parameter of every algorithm over a battery of values.
"""

from __future__ import annotations

import functools
import json
import math
from numbers import Integral, Real
from pathlib import Path
from typing import Any

TABLE_PATH = Path(__file__).with_name("estimator_table.json")

Constraint = dict[str, Any]


@functools.cache
def load() -> dict[str, Any]:
    """The table: ``{"sklearn": version, "<task>": {"<algorithm>": {class, params, reserved,
    constraints}}}``."""
    table: dict[str, Any] = json.loads(TABLE_PATH.read_text())
    return table


def entry(task: str, algorithm: str) -> dict[str, Any]:
    found: dict[str, Any] = load()[task][algorithm]
    return found


def algorithms(task: str) -> list[str]:
    return sorted(load()[task])


def _interval(constraint: Constraint, value: Any) -> bool:
    kind = constraint["type"]
    if kind == "Integral" and not isinstance(value, Integral):
        return False
    if kind == "Real" and not isinstance(value, Real):
        return False
    if kind == "RealNotInt" and not (isinstance(value, Real) and not isinstance(value, Integral)):
        return False
    if not isinstance(value, Integral) and math.isnan(value):
        return False
    left = -math.inf if constraint["left"] is None else constraint["left"]
    right = math.inf if constraint["right"] is None else constraint["right"]
    closed = constraint["closed"]
    if (value < left) if closed in ("left", "both") else (value <= left):
        return False
    return not ((value > right) if closed in ("right", "both") else (value >= right))


_TYPES: dict[str, Any] = {
    "Integral": Integral,
    "Real": Real,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "dict": dict,
    "list": list,
    "tuple": tuple,
}


def satisfied(constraint: Constraint, value: Any) -> bool:
    """Whether a JSON value (null, bool, number, string, list, object) meets one constraint.
    A kind this table does not know is taken as met: the fit decides, as before the table."""
    kind = constraint["kind"]
    if kind == "interval":
        return _interval(constraint, value)
    if kind == "options":
        expected = _TYPES.get(constraint["type"], object)
        return isinstance(value, expected) and value in constraint["options"]
    if kind == "none":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "verbose":
        return isinstance(value, bool) or (isinstance(value, Integral) and int(value) >= 0)
    if kind == "random_state":
        return value is None or (isinstance(value, Integral) and 0 <= int(value) <= 2**32 - 1)
    if kind == "array-like":
        return isinstance(value, list | dict)
    if kind == "instance":
        expected = _TYPES.get(constraint["type"])
        return expected is not None and isinstance(value, expected)
    # No JSON value is callable or has methods; a kind unknown here is left to the fit.
    return kind not in ("callable", "methods")


def problem(constraints: list[Constraint], *, name: str, value: Any, caller: str) -> str | None:
    """scikit-learn's refusal of ``value`` for ``name`` (None: one constraint is met)."""
    if any(satisfied(c, value) for c in constraints):
        return None
    shown = [c["text"] for c in constraints if not c["hidden"]]
    allowed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
    return f"The {name!r} parameter of {caller} must be {allowed}. Got {value!r} instead."


# ------------------------------------------------------------------ generation (sklearn)


def _describe(constraint: Any) -> Constraint:
    """One scikit-learn constraint object (after ``make_constraint``) as a table row."""
    from sklearn.utils import _param_validation as pv

    hidden = bool(getattr(constraint, "hidden", False))
    text = str(constraint)
    row: Constraint
    if isinstance(constraint, pv.Interval):
        kind = {Integral: "Integral", Real: "Real", pv.RealNotInt: "RealNotInt"}[constraint.type]
        row = {
            "kind": "interval",
            "type": kind,
            "left": constraint.left,
            "right": constraint.right,
            "closed": constraint.closed,
        }
    elif isinstance(constraint, pv.Options):
        options = sorted(constraint.options, key=repr)
        row = {"kind": "options", "type": constraint.type.__name__, "options": options}
        # scikit-learn lists a set in hash order (a message differs from process to process);
        # the table lists it sorted, in scikit-learn's words otherwise.
        marked = [f"{o!r} (deprecated)" if o in constraint.deprecated else repr(o) for o in options]
        text = f"a {pv._type_name(constraint.type)} among {{{', '.join(marked)}}}"
    elif isinstance(constraint, pv._NoneConstraint):
        row = {"kind": "none"}
    elif isinstance(constraint, pv._Booleans):
        row = {"kind": "boolean"}
    elif isinstance(constraint, pv._VerboseHelper):
        row = {"kind": "verbose"}
    elif isinstance(constraint, pv._RandomStates):
        row = {"kind": "random_state"}
    elif isinstance(constraint, pv._ArrayLikes):
        row = {"kind": "array-like"}
    elif isinstance(constraint, pv._InstancesOf):
        row = {"kind": "instance", "type": constraint.type.__name__}
    elif isinstance(constraint, pv._Callables):
        row = {"kind": "callable"}
    elif isinstance(constraint, pv.HasMethods):
        row = {"kind": "methods"}
    else:
        row = {"kind": type(constraint).__name__}
    return row | {"text": text, "hidden": hidden}


def generate() -> dict[str, Any]:
    """The table from the installed scikit-learn (imports it)."""
    import sklearn
    from sklearn.utils._param_validation import make_constraint

    from pace.core import training

    table: dict[str, Any] = {"sklearn": sklearn.__version__}
    for task in ("classification", "regression"):
        table[task] = {}
        for algorithm, estimator in sorted(training.estimators(task).items()):
            make = estimator.make
            reserved = sorted(estimator.reserved())
            params = sorted(set(make().get_params(deep=False)) - set(reserved))
            declared = getattr(make, "_parameter_constraints", {})
            constraints = {
                name: [_describe(make_constraint(c)) for c in declared[name]]
                for name in params
                if name in declared and declared[name] != "no_validation"
            }
            table[task][algorithm] = {
                "class": make.__name__,
                "params": params,
                "reserved": reserved,
                "constraints": constraints,
            }
    return table


def render() -> str:
    return json.dumps(generate(), indent=1, sort_keys=True) + "\n"
