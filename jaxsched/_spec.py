"""Parse a schedule from text: its ``repr``, or the same call syntax written by hand.

``parse`` never evaluates code. The text is read with ``ast`` and only these
forms are accepted: calls of jaxsched constructors (``cosine(...)``, also
written ``js.cosine(...)``), int/float/str/bool/None literals, a minus sign on a
number, lists and tuples, and the schedule operators ``*`` and ``+``. Anything
else (names, attributes, ``**``, lambdas, subscripts, ...) is a ``ParseError``
that points at the offending part of the text.
"""

from __future__ import annotations

import ast
import difflib
import re
from typing import Any

from . import _schedule

MAX_LENGTH = 100_000  # characters
MAX_DEPTH = 100  # nested calls, lists and operators
_PREFIXES = ("js", "jaxsched", "pt", "pytorch", "hf")  # `js.cosine(...)`, `pt.StepLR(...)`
_NO_TEXT_FORM = ("wrap",)
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


class ParseError(ValueError):
    """A schedule text that ``parse`` cannot read, with the position of the problem.

    Attributes:
      message: what is wrong, in one line.
      text: the text given to ``parse``.
      offset: zero-based character offset of the offending part in ``text``.
      length: how many characters it spans (at least 1).
      lineno, column: one-based line and column of ``offset``.
    """

    def __init__(self, message: str, text: str = "", offset: int = 0, length: int = 1) -> None:
        self.message = message
        self.text = text
        self.offset = max(0, min(offset, len(text)))
        self.length = max(1, length)
        before = text[:self.offset]
        self.lineno = before.count("\n") + 1
        self.column = self.offset - (before.rfind("\n") + 1) + 1
        super().__init__(_format(message, text, self.offset, self.length))

    @property
    def excerpt(self) -> str:
        """The offending part of the text (at most 40 characters)."""
        part = self.text[self.offset:self.offset + self.length].split("\n")[0]
        return part if len(part) <= 40 else part[:39] + "…"


def _format(message: str, text: str, offset: int, length: int, width: int = 76) -> str:
    """The message, then the line of ``text`` holding ``offset`` with a caret under it."""
    if not text:
        return message
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    line = text[start:] if end < 0 else text[start:end]
    col = offset - start
    span = max(1, min(length, len(line) - col))
    lead = ""
    if len(line) > width:  # a window around the caret
        left = max(0, min(col - width // 3, len(line) - width))
        if left > 0:
            line, col, lead = line[left:], col - left, "..."
        if len(line) > width:
            line = line[:width] + "..."
        span = max(1, min(span, width - col))
    return f"{message}\n  {lead}{line}\n  {' ' * (len(lead) + col)}{'^' * span}"


def _public() -> list[str]:
    """The constructor names a text may call: every public one but ``wrap``."""
    return [name for name in _schedule._REGISTRY
            if _schedule.constructor(name) is not None and name not in _NO_TEXT_FORM]


def parse(text: str) -> Any:
    """Builds a schedule from the text of its ``repr`` or the same call syntax.

    ``parse(repr(s)) == s`` for every schedule built from jaxsched constructors,
    compositions and operators included. A person may write positional
    arguments, ints where floats are expected, ``js.`` prefixes and line breaks.
    Nothing in the text is executed: it is read with ``ast`` and only
    constructor calls, number/str/bool/None literals, lists, tuples, a minus on
    a number and the operators ``*`` and ``+`` are accepted.

    Args:
      text: e.g. ``"warmup_cosine(peak=3e-4, warmup_steps=2000, total_steps=100000)"``.

    Returns:
      The schedule (a ``plateau`` text gives a ``plateau``).

    Raises:
      ParseError: (a ValueError) for anything else, with a caret under the
        offending part; a constructor's own validation message is kept.
      TypeError: if ``text`` is not a str.

    >>> import jaxsched as js
    >>> s = js.parse("join([linear(0, 1e-3, 500), cosine(1e-3, 0, 9500)], [500])")
    >>> print(f"{s(250):.6f} {s(500):.6f}")
    0.000500 0.001000
    >>> js.parse(repr(s)) == s
    True
    """
    if not isinstance(text, str):
        raise TypeError(f"parse: expected the text of a schedule (a str), got {text!r}.")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"parse: text too long ({len(text)} characters; the limit is "
                         f"{MAX_LENGTH}).", text[:200], 0, 1)
    bad = _BAD_CHAR.search(text)
    if bad:
        raise ParseError(f"parse: invalid character {ascii(bad.group())}.", text, bad.start())
    body = text.strip()
    lead = len(text) - len(text.lstrip())
    if not body:
        raise ParseError("parse: empty text; expected a schedule such as "
                         "cosine(start=0.001, end=0.0, steps=1000).", text, 0)
    try:
        tree = ast.parse(body, mode="eval")
    except SyntaxError as e:
        raise _syntax_error(e, text, lead) from None
    except (MemoryError, RecursionError):
        raise ParseError("parse: text nested too deeply.", text, lead) from None
    except (ValueError, OverflowError) as e:  # odd input the tokenizer refuses
        raise ParseError(f"parse: {e}.", text, lead) from None
    reader = _Reader(text, lead)
    value = reader.value(tree.body, 0)
    if not isinstance(value, _schedule.Schedule | _schedule.StatefulSchedule):
        what = _describe_value(value)
        hint = f" (write constant({value!r}))" if isinstance(value, int | float) else ""
        raise reader.error(f"parse: expected a schedule, got {what}{hint}.", tree.body)
    return value


def _syntax_error(e: SyntaxError, text: str, lead: int) -> ParseError:
    body = text[lead:]
    lines = body.split("\n")
    lineno = min(max(e.lineno or 1, 1), len(lines))
    start = lead + sum(len(line) + 1 for line in lines[:lineno - 1])
    col = max((e.offset or 1) - 1, 0)
    length = (e.end_offset - e.offset) if e.end_offset and e.offset and e.end_offset > e.offset \
        and (e.end_lineno in (None, e.lineno)) else 1
    msg = (e.msg or "").split(" - ")[0].rstrip(".")
    huge = re.search(r"\d{4000,}", body) if "integer string conversion" in msg else None
    if huge:  # the tokenizer reports column 1 for an over-long int literal
        return ParseError("parse: number literal too long (over 4300 digits).", text,
                          lead + huge.start(), huge.end() - huge.start())
    msg = "parse: invalid syntax" + (f": {msg}." if msg and msg != "invalid syntax" else ".")
    return ParseError(msg, text, start + min(col, len(lines[lineno - 1])), length)


def _describe_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, tuple):
        return "a list"
    return type(value).__name__


_FORBIDDEN = {
    ast.Lambda: "a lambda", ast.Subscript: "indexing", ast.Attribute: "an attribute",
    ast.Compare: "a comparison", ast.BoolOp: "`and`/`or`", ast.IfExp: "an if-expression",
    ast.Dict: "a dict", ast.Set: "a set", ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator", ast.JoinedStr: "an f-string", ast.NamedExpr: "`:=`",
    ast.Starred: "`*` unpacking", ast.Await: "`await`", ast.Yield: "`yield`",
    ast.YieldFrom: "`yield`", ast.Slice: "a slice",
}


class _Reader:
    """Turns an expression tree into values, allowing only the forms listed above."""

    def __init__(self, text: str, lead: int) -> None:
        self.text = text
        self.lead = lead
        body = text[lead:]
        self.line_starts = [0] + [i + 1 for i, ch in enumerate(body) if ch == "\n"]
        self.lines = body.split("\n")

    # ----------------------------------------------------------- positions
    def _offset(self, lineno: int, col_bytes: int) -> int:
        line = self.lines[lineno - 1]
        col = len(line.encode("utf-8")[:col_bytes].decode("utf-8", errors="ignore"))
        return self.lead + self.line_starts[lineno - 1] + col

    def error(self, message: str, node: ast.AST) -> ParseError:
        start = self._offset(node.lineno, node.col_offset)
        end_line = getattr(node, "end_lineno", None) or node.lineno
        end_col = getattr(node, "end_col_offset", None)
        end = self._offset(end_line, end_col) if end_col is not None else start + 1
        return ParseError(message, self.text, start, end - start)

    # ----------------------------------------------------------- values
    def value(self, node: ast.AST, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.error(f"parse: nested too deeply (more than {MAX_DEPTH} levels).", node)
        if isinstance(node, ast.Constant):
            v = node.value
            if v is None or isinstance(v, bool | int | float | str):
                return v
            kind = {complex: "a complex number", bytes: "bytes"}.get(type(v), repr(v))
            raise self.error(f"parse: {kind} is not allowed here; use int, float, str, "
                             "True, False or None.", node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node, depth)
        if isinstance(node, ast.List | ast.Tuple):
            return tuple(self.value(e, depth + 1) for e in node.elts)
        if isinstance(node, ast.BinOp):
            return self._binop(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        if isinstance(node, ast.Name):
            raise self.error(self._name_message(node.id), node)
        if isinstance(node, ast.Attribute) and self._constructor_name(node) is not None:
            raise self.error(f"parse: `{self._constructor_name(node)}` is a schedule "
                             "constructor: call it with its arguments.", node)
        what = _FORBIDDEN.get(type(node), type(node).__name__)
        raise self.error(f"parse: {what} is not allowed; a schedule text holds only "
                         "constructor calls, numbers, strings, lists and `*`/`+`.", node)

    def _name_message(self, name: str) -> str:
        if name in _public():
            return f"parse: `{name}` is a schedule constructor: call it, e.g. {name}(...)."
        if name in ("inf", "nan", "Infinity", "NaN"):
            return f"parse: `{name}` is not a number literal here; values must be finite."
        if name == "wrap":
            return _wrap_message()
        close = difflib.get_close_matches(name, _public(), n=1)
        hint = f" (did you mean '{close[0]}(...)'?)" if close else ""
        return (f"parse: unknown name '{name}'{hint}; only constructor calls, numbers, "
                "strings, True/False/None and lists are allowed.")

    def _unary(self, node: ast.UnaryOp, depth: int) -> Any:
        if not isinstance(node.op, ast.USub | ast.UAdd):
            op = {ast.Not: "`not`", ast.Invert: "`~`"}.get(type(node.op), "this operator")
            raise self.error(f"parse: {op} is not allowed.", node)
        v = self.value(node.operand, depth + 1)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.error("parse: a sign is allowed only on a number.", node)
        return -v if isinstance(node.op, ast.USub) else v

    def _binop(self, node: ast.BinOp, depth: int) -> Any:
        op = type(node.op)
        if op is ast.Pow:
            raise self.error("parse: `**` is not allowed (powers are never evaluated); "
                             "write the number, e.g. 1e-3.", node)
        if op not in (ast.Mult, ast.Add):
            sym = {ast.Sub: "-", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
                   ast.MatMult: "@"}.get(op, type(node.op).__name__)
            raise self.error(f"parse: `{sym}` is not allowed; schedules combine with `*` "
                             "and `+` only (scale by a number: 0.5 * s).", node)
        left = self.value(node.left, depth + 1)
        right = self.value(node.right, depth + 1)
        for side, v in ((node.left, left), (node.right, right)):
            if isinstance(v, bool) or not isinstance(v, int | float | _schedule.Schedule):
                raise self.error(f"parse: `{'*' if op is ast.Mult else '+'}` combines "
                                 f"schedules and numbers, got {_describe_value(v)}.", side)
        if not any(isinstance(v, _schedule.Schedule) for v in (left, right)):
            raise self.error("parse: arithmetic on plain numbers is not evaluated; write the "
                             "result as one number.", node)
        cls = _schedule.mul if op is ast.Mult else _schedule.add
        try:
            return cls(left, right)
        except Exception as e:  # noqa: BLE001 - reported with its position
            raise self.error(_first_line(e), node) from None

    def _constructor_name(self, func: ast.AST) -> str | None:
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            owner = func.value
            if isinstance(owner, ast.Name) and owner.id in _PREFIXES:
                return func.attr  # js.cosine, pt.StepLR
            if (isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name)
                    and owner.value.id in ("js", "jaxsched") and owner.attr in ("pytorch", "hf")):
                return func.attr  # jaxsched.pytorch.StepLR
        return None

    def _call(self, node: ast.Call, depth: int) -> Any:
        name = self._constructor_name(node.func)
        if name is None:
            raise self.error("parse: only jaxsched constructors can be called, e.g. "
                             "cosine(...) or js.cosine(...).", node.func)
        if name in _NO_TEXT_FORM:
            raise self.error(_wrap_message(), node.func)
        cls = _schedule.constructor(name)
        if cls is None:
            raise self.error(f"parse: unknown schedule '{name}'"
                             f"{_schedule.unknown_hint(name, _public())}", node.func)
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.error("parse: `*` unpacking is not allowed.", a)
        for k in node.keywords:
            if k.arg is None:
                raise self.error("parse: `**` unpacking is not allowed.", k)
        args = [self.value(a, depth + 1) for a in node.args]
        kwargs = {k.arg: self.value(k.value, depth + 1) for k in node.keywords}
        where = self._bind(name, cls, node, args, kwargs)
        try:
            return cls(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - every failure becomes a ParseError
            raise self.error(_first_line(e), self._culprit(e, where, node)) from None

    def _bind(self, name: str, cls: type, node: ast.Call, args: list, kwargs: dict) -> dict:
        """Checks the arguments against the signature; returns {parameter: its node}."""
        problem = _schedule.call_error(name, cls, args, kwargs)
        if problem is not None:
            message, culprit = problem
            keyword = next((k for k in node.keywords if k.arg == culprit), None)
            if keyword is not None:
                raise self.error(message, keyword)
            if isinstance(culprit, int):
                raise self.error(message, node.args[culprit])
            raise self.error(message, node)
        params = list(_schedule.signature(cls).parameters)
        nodes = dict(zip(params, node.args, strict=False))
        nodes.update({k.arg: k for k in node.keywords})
        return nodes

    @staticmethod
    def _culprit(e: Exception, where: dict, node: ast.Call) -> ast.AST:
        """The argument a constructor's message names (``cosine: `steps` must ...``)."""
        m = re.search(r"`(\w+)", str(e))
        return where.get(m.group(1), node) if m else node


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    msg = text[0] if text else ""
    if isinstance(e, ValueError | TypeError):
        return msg or type(e).__name__
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _wrap_message() -> str:
    return ("parse: wrap(...) holds a Python function, which has no text form; build the "
            "schedule from jaxsched constructors to write it as text.")
