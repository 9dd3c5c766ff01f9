"""The condition language: tokens, grammar and syntax tree.

A condition is one line a trader can read::

    cross_above(ema(close, 9), ema(close, 21)) and rsi(close, 14) < 70
    volume > 2 * sma(volume, 20) or book.imbalance(10) > 1.2
    close@1m > highest(high@1m, 20)[1]

Grammar (lowest precedence first; comparisons do not chain)::

    expr     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | compare
    compare  := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/") unary)*
    unary    := "-" unary | postfix
    postfix  := primary ("[" INT "]" | "." NAME | "@" TIMEFRAME)*
    primary  := NUMBER | DURATION | "true" | "false" | NAME | NAME "(" args? ")" | "(" expr ")"
    args     := expr ("," expr)*

``book.x(...)`` and ``flow.x(...)`` parse as a call on a dotted name. This
module only knows syntax: what a name means is the compiler's business. The
parser is hand-written (no eval of config text) and every node keeps its
offset and source text, so errors point at the column and signals can say
which part of a rule fired.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


class SyntaxProblem(ValueError):
    """A condition that does not parse; ``offset`` is the 0-based column in it."""

    def __init__(self, message: str, offset: int, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.offset, self.hint = message, offset, hint


# ------------------------------------------------------------------ syntax tree
@dataclass(eq=False)
class Node:
    offset: int
    text: str = field(default="", compare=False)


@dataclass(eq=False)
class Number(Node):
    value: float = 0.0


@dataclass(eq=False)
class Duration(Node):
    """``10s``, ``3m``, ``1h``: seconds. Flow windows and cooldowns use these."""
    seconds: float = 0.0


@dataclass(eq=False)
class Bool(Node):
    value: bool = False


@dataclass(eq=False)
class Name(Node):
    name: str = ""


@dataclass(eq=False)
class Call(Node):
    name: str = ""
    args: list = field(default_factory=list)
    name_offset: int = 0


@dataclass(eq=False)
class Output(Node):
    """``macd(close).hist``: pick one output of a multi-output indicator."""
    base: Node = None
    name: str = ""


@dataclass(eq=False)
class Lag(Node):
    """``x[n]``: the value of x n bars ago."""
    base: Node = None
    bars: int = 1


@dataclass(eq=False)
class OnTimeframe(Node):
    """``close@1m``: x on another timeframe's bars."""
    base: Node = None
    timeframe: str = ""


@dataclass(eq=False)
class Unary(Node):
    op: str = ""
    operand: Node = None


@dataclass(eq=False)
class Binary(Node):
    op: str = ""
    left: Node = None
    right: Node = None


COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
ARITHMETIC = ("+", "-", "*", "/")
LOGIC = ("and", "or")
KEYWORDS = ("and", "or", "not", "true", "false")


# ------------------------------------------------------------------ tokens
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<duration>\d+(?:\.\d+)?(?:ms|s|m|h|d|w)\b)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op><=|>=|==|!=|[-+*/<>()\[\],.@])
""", re.VERBOSE)

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class Token:
    kind: str      # number, duration, name, op, end
    text: str
    offset: int


def tokenize(source: str) -> list[Token]:
    out, pos = [], 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if not m:
            ch = source[pos]
            hint = "use 'and', 'or', 'not'" if ch in "&|!" else "conditions use numbers, names, + - * /, comparisons and ( )"
            raise SyntaxProblem(f"unexpected character {ch!r}", pos, hint)
        if m.lastgroup != "space":
            out.append(Token(m.lastgroup, m.group(), pos))
        pos = m.end()
    out.append(Token("end", "", len(source)))
    return out


def duration_seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration (examples: 500ms, 10s, 3m, 1h)")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


# ------------------------------------------------------------------ parser
class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def at(self, *texts: str) -> bool:
        t = self.tok
        return t.kind in ("op", "name") and t.text in texts

    def expect(self, text: str, what: str) -> Token:
        if not self.at(text):
            raise SyntaxProblem(f"expected {text!r} {what}, found {self._found()}", self.tok.offset)
        return self.take()

    def _found(self) -> str:
        return "the end of the condition" if self.tok.kind == "end" else repr(self.tok.text)

    def _span(self, node: Node, start: int) -> Node:
        end = self.tokens[self.i - 1].offset + len(self.tokens[self.i - 1].text)
        node.text = self.source[start:end].strip()
        return node

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise SyntaxProblem("the condition is empty", 0, "write e.g. close > ema(close, 20)")
        node = self.logic("or")
        if self.tok.kind != "end":
            hint = "join conditions with 'and' / 'or'" if self.tok.kind in ("name", "number") else ""
            raise SyntaxProblem(f"unexpected {self._found()} after a complete condition", self.tok.offset, hint)
        return node

    def logic(self, op: str) -> Node:
        start = self.tok.offset
        node = self.logic("and") if op == "or" else self.negation()
        while self.at(op):
            self.take()
            right = self.logic("and") if op == "or" else self.negation()
            node = self._span(Binary(start, op=op, left=node, right=right), start)
        return node

    def negation(self) -> Node:
        if self.at("not"):
            start = self.take().offset
            return self._span(Unary(start, op="not", operand=self.negation()), start)
        return self.compare()

    def compare(self) -> Node:
        start = self.tok.offset
        node = self.sum()
        if self.tok.kind == "op" and self.tok.text in COMPARISONS:
            op = self.take().text
            node = self._span(Binary(start, op=op, left=node, right=self.sum()), start)
            if self.tok.kind == "op" and self.tok.text in COMPARISONS:
                raise SyntaxProblem("comparisons do not chain", self.tok.offset,
                                    "write a < b and b < c")
        return node

    def sum(self) -> Node:
        start = self.tok.offset
        node = self.product()
        while self.at("+", "-"):
            op = self.take().text
            node = self._span(Binary(start, op=op, left=node, right=self.product()), start)
        return node

    def product(self) -> Node:
        start = self.tok.offset
        node = self.unary()
        while self.at("*", "/"):
            op = self.take().text
            node = self._span(Binary(start, op=op, left=node, right=self.unary()), start)
        return node

    def unary(self) -> Node:
        if self.at("-"):
            start = self.take().offset
            return self._span(Unary(start, op="-", operand=self.unary()), start)
        return self.postfix()

    def postfix(self) -> Node:
        start = self.tok.offset
        node = self.primary()
        while True:
            if self.at("["):
                self.take()
                t = self.take()
                if t.kind != "number" or not re.fullmatch(r"\d+", t.text) or int(t.text) < 1:
                    raise SyntaxProblem(f"a lag is a whole number of bars >= 1, found {t.text or 'nothing'!r}",
                                        t.offset, "close[1] is the previous bar's close")
                self.expect("]", "to close the lag")
                node = self._span(Lag(start, base=node, bars=int(t.text)), start)
            elif self.at("."):
                self.take()
                t = self.take()
                if t.kind != "name":
                    raise SyntaxProblem(f"expected an output name after '.', found {t.text or 'nothing'!r}", t.offset)
                node = self._span(Output(start, base=node, name=t.text), start)
            elif self.at("@"):
                self.take()
                t = self.take()
                if t.kind != "duration":
                    raise SyntaxProblem(f"expected a timeframe after '@' (1s, 5m, 1h ...), found {t.text or 'nothing'!r}",
                                        t.offset)
                node = self._span(OnTimeframe(start, base=node, timeframe=t.text), start)
            else:
                return node

    def primary(self) -> Node:
        t = self.tok
        if t.kind == "number":
            self.take()
            return Number(t.offset, t.text, value=float(t.text))
        if t.kind == "duration":
            self.take()
            return Duration(t.offset, t.text, seconds=duration_seconds(t.text))
        if t.kind == "name":
            if t.text in ("true", "false"):
                self.take()
                return Bool(t.offset, t.text, value=t.text == "true")
            if t.text in ("and", "or", "not"):
                raise SyntaxProblem(f"expected a value before {t.text!r}", t.offset)
            self.take()
            name = t.text
            # dotted names: book.imbalance, flow.delta_ratio
            while self.at(".") and self.tokens[self.i + 1].kind == "name" and name in ("book", "flow"):
                self.take()
                name += "." + self.take().text
            if self.at("("):
                self.take()
                args = []
                if not self.at(")"):
                    args.append(self.logic("or"))
                    while self.at(","):
                        self.take()
                        args.append(self.logic("or"))
                self.expect(")", f"to close {name}(")
                return self._span(Call(t.offset, name=name, args=args, name_offset=t.offset), t.offset)
            return self._span(Name(t.offset, name=name), t.offset)
        if self.at("("):
            self.take()
            node = self.logic("or")
            self.expect(")", "to close '('")
            return node
        if t.kind == "end":
            raise SyntaxProblem("the condition ends too early", t.offset)
        raise SyntaxProblem(f"unexpected {t.text!r}", t.offset)


def parse(source: str) -> Node:
    """Parse one condition; SyntaxProblem with the column on failure."""
    return _Parser(source).parse()


def walk(node: Node):
    """Every node of a tree, parents first."""
    yield node
    for child in children(node):
        yield from walk(child)


def children(node: Node) -> list[Node]:
    if isinstance(node, Call):
        return list(node.args)
    if isinstance(node, (Output, Lag, OnTimeframe)):
        return [node.base]
    if isinstance(node, Unary):
        return [node.operand]
    if isinstance(node, Binary):
        return [node.left, node.right]
    return []
