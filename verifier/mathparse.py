"""A safe parser for one mathematical expression: plain text (``x^2-1``, ``sqrt(8)``) and a LaTeX subset.

A tokenizer and a recursive-descent parser build a small immutable tree (:class:`Node`); nothing is
evaluated or imported by name, so ``__import__('os').system('x')`` is only an unparseable string.
The tree is evaluated exactly to a :class:`fractions.Fraction` in process when it holds only rational
arithmetic (:func:`exact_value`), and converted to SymPy inside a sandbox worker otherwise
(:mod:`verifier.symbolic`). LaTeX outside the subset is left to ``latex2sympy2_extended``.

Grammar (``^`` is right-associative, juxtaposition is multiplication)::

    sum     := product (('+' | '-') product)*
    product := unary (('*' | '/' | '\\cdot' | '\\times' | '\\div') unary | <implicit> power)*
    unary   := ('-' | '+') unary | power
    power   := postfix ('^' exponent)?
    postfix := atom '!'*
    atom    := number | symbol | constant | '(' sum ')' | '{' sum '}' | '|' sum '|'
             | '\\frac' group group | '\\sqrt' ['[' sum ']'] group | function argument
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

# deepest nesting of brackets/calls the parser follows; deeper input is refused, never a RecursionError
MAX_DEPTH = 60
# most tokens in one expression
MAX_TOKENS = 600
# exact evaluation refuses |exponent| above this and results above MAX_BITS bits
MAX_EXPONENT = 10_000
MAX_BITS = 20_000
# SymPy expands powers of non-rational bases: (x+1)^200 already takes seconds, so such powers stop here
MAX_SYMBOLIC_EXPONENT = 64
# factorials of integers above this are refused
MAX_FACTORIAL = 2_000


class ParseError(ValueError):
    """The text is not an expression this parser reads."""


class TooCostly(ValueError):
    """The expression is well formed but too expensive to evaluate (a cost guard)."""


@dataclass(frozen=True)
class Node:
    """One node of the expression tree.

    op: "num" (value: Fraction, text: the digits as written), "sym" (name), "const" (name: pi, E, I, oo),
    "add" / "mul" (args), "neg" (args[0]), "div" (args = (numerator, denominator)), "pow" (base, exponent),
    "fact" (args[0]), "func" (name, args), "root" (args = (radicand, index)).
    """

    op: str
    args: tuple[Node, ...] = ()
    name: str = ""
    value: Fraction | None = None
    text: str = ""


FUNCTIONS = frozenset(
    {
        "sin", "cos", "tan", "cot", "sec", "csc",
        "arcsin", "arccos", "arctan", "asin", "acos", "atan",
        "sinh", "cosh", "tanh", "log", "ln", "exp", "sqrt", "abs",
    }
)  # fmt: skip
CONSTANTS = {"pi": "pi", "infty": "oo", "infin": "oo", "inf": "oo", "e": "E", "i": "I"}
GREEK = frozenset(
    {
        "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
        "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi",
        "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega",
    }
)  # fmt: skip
_TIMES = frozenset({"*", "\\cdot", "\\times", "\\ast"})
_DIVIDE = frozenset({"/", "\\div"})
_NOISE_COMMANDS = frozenset({"\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\big", "\\Big"})

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+(?![A-Za-z]))? | \.\d+(?:[eE][+-]?\d+(?![A-Za-z]))?)
  | (?P<cmd>\\[A-Za-z]+ | \\[{}|])
  | (?P<word>[A-Za-z]+)
  | (?P<op>\*\*|[-+*/^_!(){}\[\]|,])
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[str]:
    """Split ``text`` into tokens; raise :class:`ParseError` on any character outside the grammar."""
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ParseError(f"unexpected character {text[pos]!r}")
        pos = m.end()
        kind = m.lastgroup
        tok = m.group()
        if kind == "ws" or tok in _NOISE_COMMANDS:
            continue
        if kind == "word":
            tokens.extend(_split_word(tok))
        else:
            tokens.append("^" if tok == "**" else tok)
        if len(tokens) > MAX_TOKENS:
            raise TooCostly(f"more than {MAX_TOKENS} tokens")
    return tokens


def _split_word(word: str) -> list[str]:
    """A run of letters: a known function or constant name, else single-letter symbols (``xy`` = x*y)."""
    if word in FUNCTIONS or word in CONSTANTS or word in GREEK:
        return [word]
    if len(word) > 3:
        raise ParseError(f"unknown word {word!r}")
    for name in sorted(FUNCTIONS, key=len, reverse=True):
        if word.startswith(name) and len(word) > len(name):
            return [name, *_split_word(word[len(name) :])]
    return list(word)


def _num(value: Fraction, text: str) -> Node:
    return Node("num", value=value, text=text)


def parse_number_token(tok: str) -> Node:
    """``12``, ``0.5``, ``.5``, ``2.``, ``1.5e3`` -> an exact ``num`` node (a decimal is exact as written)."""
    mantissa, _, exponent = tok.lower().partition("e")
    value = Fraction(mantissa if mantissa != "." else "0")
    if exponent:
        exp = int(exponent)
        if abs(exp) > MAX_EXPONENT:
            raise TooCostly(f"exponent {exp} too large")
        value *= Fraction(10) ** exp
    return _num(value, tok)


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.toks = tokens
        self.i = 0
        self.depth = 0
        self.in_abs = False  # inside |...|: a "|" closes rather than opens

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end of input")
        self.i += 1
        return tok

    def expect(self, tok: str) -> None:
        got = self.take()
        if got != tok:
            raise ParseError(f"expected {tok!r}, got {got!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TooCostly(f"nesting deeper than {MAX_DEPTH}")

    def parse(self) -> Node:
        node = self.sum()
        if self.peek() is not None:
            raise ParseError(f"unexpected {self.peek()!r}")
        return node

    def sum(self) -> Node:
        self.enter()
        terms = [self.product()]
        while self.peek() in ("+", "-"):
            sign = self.take()
            term = self.product()
            terms.append(term if sign == "+" else Node("neg", (term,)))
        self.depth -= 1
        return terms[0] if len(terms) == 1 else Node("add", tuple(terms))

    def starts_atom(self, tok: str | None) -> bool:
        if tok is None:
            return False
        if tok in ("(", "{", "|") or tok[0].isdigit() or tok[0] == "." or tok[0].isalpha():
            return tok != "|" or not self.in_abs
        return tok.startswith("\\") and tok not in _TIMES | _DIVIDE | {"\\}", "\\pm", "\\mp"}

    def product(self) -> Node:
        factors = [self.unary()]
        while True:
            tok = self.peek()
            if tok in _TIMES:
                self.take()
                factors.append(self.unary())
            elif tok in _DIVIDE:
                self.take()
                denominator = self.unary()
                num = factors[0] if len(factors) == 1 else Node("mul", tuple(factors))
                factors = [Node("div", (num, denominator))]
            elif self.starts_atom(tok):
                prev = factors[-1]
                nxt = self.power()
                if prev.op == "num" and nxt.op == "num" and nxt.text:
                    raise ParseError("two numbers side by side")
                if prev.op == "num" and prev.text.isdigit() and nxt.op == "div" and _is_int_frac(nxt):
                    # a mixed number: 2\frac{1}{2} = 5/2 (the convention of MATH's answers)
                    factors[-1] = Node("add", (prev, nxt))
                elif (
                    prev.op == "neg"
                    and prev.args[0].op == "num"
                    and prev.args[0].text.isdigit()
                    and nxt.op == "div"
                    and _is_int_frac(nxt)
                ):
                    # -2\frac{1}{2} = -(2 + 1/2): the sign covers the whole mixed number
                    factors[-1] = Node("neg", (Node("add", (prev.args[0], nxt)),))
                else:
                    factors.append(nxt)
            else:
                break
        return factors[0] if len(factors) == 1 else Node("mul", tuple(factors))

    def unary(self) -> Node:
        tok = self.peek()
        if tok in ("-", "+"):
            self.take()
            self.enter()
            operand = self.unary()
            self.depth -= 1
            return Node("neg", (operand,)) if tok == "-" else operand
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        if self.peek() == "^":
            self.take()
            self.enter()
            exponent = self.exponent()
            self.depth -= 1
            return Node("pow", (base, exponent))
        return base

    def exponent(self) -> Node:
        tok = self.peek()
        if tok in ("-", "+"):
            self.take()
            inner = self.exponent()
            return Node("neg", (inner,)) if tok == "-" else inner
        if tok is not None and tok[0].isdigit() and "." not in tok and self.peek(1) != "^":
            # x^23 in LaTeX means x^2 * 3 only with braces omitted by mistake; read it as x^{23}
            return self.postfix()
        return self.power()

    def postfix(self) -> Node:
        node = self.atom()
        while self.peek() == "!":
            self.take()
            node = Node("fact", (node,))
        return node

    def group(self) -> Node:
        """A LaTeX argument: ``{...}`` or a single token (``\\frac12``)."""
        tok = self.peek()
        if tok == "{":
            self.take()
            node = self.sum()
            self.expect("}")
            return node
        tok = self.take()
        if tok.isdigit():
            # \frac12: each argument is one digit
            if len(tok) > 1:
                self.toks[self.i - 1 : self.i] = [tok[0], tok[1:]]
                tok = tok[0]
            return _num(Fraction(tok), tok)
        self.i -= 1
        return self.atom()

    def atom(self) -> Node:
        self.enter()
        node = self._atom()
        self.depth -= 1
        return node

    def _atom(self) -> Node:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return parse_number_token(tok)
        if tok in ("(", "{", "["):
            close = {"(": ")", "{": "}", "[": "]"}[tok]
            node = self.sum()
            self.expect(close)
            return node
        if tok == "|" and not self.in_abs:
            self.in_abs = True
            node = self.sum()
            self.in_abs = False
            self.expect("|")
            return Node("func", (node,), name="abs")
        if tok == "\\frac" or tok == "\\dfrac" or tok == "\\tfrac":
            num = self.group()
            den = self.group()
            return Node("div", (num, den))
        if tok == "\\sqrt" or tok == "sqrt":
            index: Node | None = None
            if self.peek() == "[" and tok == "\\sqrt":
                self.take()
                index = self.sum()
                self.expect("]")
            radicand = self.group() if tok == "\\sqrt" else self.call_argument()
            return Node("root", (radicand, index if index is not None else _num(Fraction(2), "2")))
        name = tok[1:] if tok.startswith("\\") else tok
        if name in CONSTANTS and (tok.startswith("\\") or len(name) <= 2 or name == "pi"):
            if tok.startswith("\\") and name in ("e", "i"):
                raise ParseError(f"unknown command {tok!r}")
            return Node("const", name=CONSTANTS[name])
        if name in FUNCTIONS:
            return self.function(name)
        if tok.startswith("\\"):
            if name in GREEK:
                return self.subscripted(name)
            raise ParseError(f"unsupported command {tok!r}")
        if len(tok) == 1 and tok.isalpha():
            return self.subscripted(tok)
        raise ParseError(f"unexpected {tok!r}")

    def subscripted(self, name: str) -> Node:
        if self.peek() == "_":
            self.take()
            sub = self.take()
            if sub == "{":
                parts = []
                while self.peek() not in ("}", None):
                    parts.append(self.take())
                self.expect("}")
                sub = "".join(parts)
            if not re.fullmatch(r"[A-Za-z0-9]{1,8}", sub):
                raise ParseError("unsupported subscript")
            name = f"{name}_{sub}"
        return Node("sym", name=name)

    def call_argument(self) -> Node:
        if self.peek() == "(":
            self.take()
            node = self.sum()
            self.expect(")")
            return node
        return self.group()

    def function(self, name: str) -> Node:
        base: Node | None = None
        power: Node | None = None
        if name == "log" and self.peek() == "_":
            self.take()
            base = self.group()
        if self.peek() == "^":
            # \sin^2 x = (\sin x)^2, but \sin^{-1} x = \arcsin x
            self.take()
            power = self.exponent()
            if _is_minus_one(power) and name in _INVERSE:
                name, power = _INVERSE[name], None
        if self.peek() in ("(", "{"):
            arg = self.call_argument()
        else:
            # \sin 2x: the argument is the following product of atoms
            self.enter()
            parts = [self.power()]
            while self.starts_atom(self.peek()) and self.peek() not in ("(",) and not _is_func(self.peek()):
                parts.append(self.power())
            self.depth -= 1
            arg = parts[0] if len(parts) == 1 else Node("mul", tuple(parts))
        if name == "sqrt":
            node = Node("root", (arg, _num(Fraction(2), "2")))
        elif base is not None:
            node = Node("func", (arg, base), name="log")
        else:
            node = Node("func", (arg,), name=name)
        return node if power is None else Node("pow", (node, power))


_INVERSE = {"sin": "arcsin", "cos": "arccos", "tan": "arctan"}


def _is_minus_one(node: Node) -> bool:
    return node.op == "neg" and node.args[0].op == "num" and node.args[0].value == 1


def _is_func(tok: str | None) -> bool:
    return tok is not None and tok.lstrip("\\") in FUNCTIONS


def _is_int_frac(node: Node) -> bool:
    num, den = node.args
    return num.op == "num" and den.op == "num" and num.text.isdigit() and den.text.isdigit()


def parse_expression(text: str) -> Node:
    """Parse one expression; raise :class:`ParseError` (not this grammar) or :class:`TooCostly`."""
    return _Parser(tokenize(text)).parse()


def exact_value(node: Node) -> Fraction | None:
    """The exact rational value of a tree of rational arithmetic, or None if it has symbols/irrationals.

    Raises :class:`TooCostly` for powers and factorials past the guards, ZeroDivisionError for x/0.
    """
    op = node.op
    if op == "num":
        return node.value
    if op == "neg":
        v = exact_value(node.args[0])
        return None if v is None else -v
    if op == "add":
        total = Fraction(0)
        for arg in node.args:
            v = exact_value(arg)
            if v is None:
                return None
            total += v
        return total
    if op == "mul":
        prod = Fraction(1)
        for arg in node.args:
            v = exact_value(arg)
            if v is None:
                return None
            prod *= v
        return prod
    if op == "div":
        num, den = (exact_value(a) for a in node.args)
        if num is None or den is None:
            return None
        return num / den
    if op == "pow":
        base, exp = (exact_value(a) for a in node.args)
        if base is None or exp is None or exp.denominator != 1:
            return None
        return _checked_pow(base, int(exp))
    if op == "fact":
        v = exact_value(node.args[0])
        if v is None or v.denominator != 1 or v < 0:
            return None
        if v > MAX_FACTORIAL:
            raise TooCostly(f"factorial of {v} refused")
        return Fraction(math.factorial(int(v)))
    if op == "root":
        radicand, index = (exact_value(a) for a in node.args)
        if radicand is None or index is None or index.denominator != 1 or index <= 0 or radicand < 0:
            return None
        n = int(index)
        num_root = _int_root(radicand.numerator, n)
        den_root = _int_root(radicand.denominator, n)
        if num_root is None or den_root is None:
            return None
        return Fraction(num_root, den_root)
    return None


def _checked_pow(base: Fraction, exp: int) -> Fraction:
    if base in (0, 1) or exp == 0:
        return base**exp
    if base == -1:
        return Fraction(-1 if exp % 2 else 1)
    if abs(exp) > MAX_EXPONENT:
        raise TooCostly(f"exponent {exp} too large")
    bits = max(abs(base.numerator), abs(base.denominator)).bit_length() * abs(exp)
    if bits > MAX_BITS:
        raise TooCostly(f"power with about {bits} bits refused")
    return base**exp


def _int_root(n: int, k: int) -> int | None:
    if n.bit_length() > MAX_BITS or k > 64:
        return None
    r = round(n ** (1.0 / k)) if n.bit_length() < 1000 else None
    if r is None:
        return None
    for cand in (r - 1, r, r + 1):
        if cand >= 0 and cand**k == n:
            return cand
    return None


def free_symbols(node: Node) -> frozenset[str]:
    """Names of the symbols in the tree (constants excluded)."""
    out: set[str] = set()
    stack = [node]
    while stack:
        cur = stack.pop()
        if cur.op == "sym":
            out.add(cur.name)
        stack.extend(cur.args)
    return frozenset(out)


def check_cost(node: Node) -> None:
    """Refuse trees that would make SymPy work for long: towers, huge exponents, huge factorials.

    Raises :class:`TooCostly`. ``a^{b^c}`` is allowed when ``b^c`` evaluates within the guards;
    ``a^{b^{c^d}}`` (three levels) never is.
    """
    stack = [node]
    while stack:
        cur = stack.pop()
        if cur.op == "pow":
            base, exp = cur.args
            if _pow_height(exp) >= 2:
                raise TooCostly("power tower refused")
            try:
                value = exact_value(exp)
            except ZeroDivisionError:
                value = None
            base_value = _safe_exact(base)
            if value is not None and abs(value) > MAX_EXPONENT and base_value not in (0, 1, -1):
                raise TooCostly(f"exponent {value} too large")
            if value is not None and base_value is None and abs(value) > MAX_SYMBOLIC_EXPONENT:
                raise TooCostly(f"exponent {value} of a non-rational base too large")
        elif cur.op == "fact":
            arg = _safe_exact(cur.args[0])
            if arg is not None and arg > MAX_FACTORIAL:
                raise TooCostly(f"factorial of {arg} refused")
            if arg is None and _pow_height(cur.args[0]) >= 1:
                raise TooCostly("factorial of a power refused")
        stack.extend(cur.args)


def _pow_height(node: Node) -> int:
    """How many powers are stacked in exponents below ``node`` (``x`` 0, ``x^2`` 1, ``x^{y^2}`` 2)."""
    best = 0
    stack = [(node, 0)]
    while stack:
        cur, height = stack.pop()
        if cur.op in ("pow", "fact"):
            height += 1
            best = max(best, height)
            if cur.op == "pow":
                stack.append((cur.args[0], height - 1))
                stack.append((cur.args[1], height))
                continue
        stack.extend((a, height) for a in cur.args)
    return best


def _safe_exact(node: Node) -> Fraction | None:
    try:
        return exact_value(node)
    except (TooCostly, ZeroDivisionError):
        return None


# a matrix of exact entries, row by row
MatrixValue = tuple[tuple[Fraction, ...], ...]
# the largest power of a matrix evaluated exactly, and the most entries of a matrix in arithmetic
MAX_MATRIX_POWER = 64
MAX_MATRIX_ENTRIES = 36


def evaluate_matrices(node: Node, matrices: list[MatrixValue]) -> Fraction | MatrixValue:
    """Evaluate arithmetic on literal matrices exactly: the symbol ``M_k`` is ``matrices[k]``; sums,
    differences, scalar multiples, products, division by a scalar and small integer powers.

    Raises :class:`ParseError` for anything undefined (shapes that do not fit, a matrix divisor, another
    symbol or function) and :class:`TooCostly` for powers past the guard.
    """
    op = node.op
    if op == "num":
        assert node.value is not None
        return node.value
    if op == "sym":
        m = re.fullmatch(r"M_(\d+)", node.name)
        if m is None or int(m.group(1)) >= len(matrices):
            raise ParseError(f"unknown symbol {node.name!r} among matrices")
        matrix = matrices[int(m.group(1))]
        if len(matrix) * len(matrix[0]) > MAX_MATRIX_ENTRIES:
            raise TooCostly(f"arithmetic on a matrix of more than {MAX_MATRIX_ENTRIES} entries refused")
        return matrix
    args = [evaluate_matrices(a, matrices) for a in node.args]
    if op == "neg":
        return _scale(args[0], Fraction(-1))
    if op == "add":
        total = args[0]
        for a in args[1:]:
            total = _matrix_add(total, a)
        return total
    if op == "mul":
        prod = args[0]
        for a in args[1:]:
            prod = _matrix_mul(prod, a)
        return prod
    if op == "div":
        num, den = args
        if isinstance(den, tuple):
            raise ParseError("division by a matrix")
        if den == 0:
            raise ParseError("division by zero")
        return _scale(num, 1 / den)
    if op == "pow":
        base, exp = args
        if isinstance(exp, tuple) or exp.denominator != 1:
            raise ParseError("a matrix power that is not an integer")
        if not isinstance(base, tuple):
            return _checked_pow(base, int(exp))
        if not 0 <= exp <= MAX_MATRIX_POWER:
            raise TooCostly(f"matrix power {exp} refused")
        if len(base) != len(base[0]):
            raise ParseError("a power of a matrix that is not square")
        result: Fraction | MatrixValue = tuple(
            tuple(Fraction(int(i == j)) for j in range(len(base))) for i in range(len(base))
        )
        square: Fraction | MatrixValue = base
        k = int(exp)
        while k:  # by squaring: at most 2 log2(k) products
            if k & 1:
                result = _matrix_mul(result, square)
            k >>= 1
            if k:
                square = _matrix_mul(square, square)
        return result
    raise ParseError(f"{op!r} on matrices")


def _scale(a: Fraction | MatrixValue, c: Fraction) -> Fraction | MatrixValue:
    if isinstance(a, tuple):
        return tuple(tuple(c * x for x in row) for row in a)
    return c * a


def _matrix_add(a: Fraction | MatrixValue, b: Fraction | MatrixValue) -> Fraction | MatrixValue:
    if isinstance(a, tuple) and isinstance(b, tuple):
        if len(a) != len(b) or len(a[0]) != len(b[0]):
            raise ParseError("a sum of matrices of different shapes")
        return tuple(tuple(x + y for x, y in zip(ra, rb, strict=True)) for ra, rb in zip(a, b, strict=True))
    if isinstance(a, tuple) or isinstance(b, tuple):
        raise ParseError("a number added to a matrix")
    return a + b


def _matrix_mul(a: Fraction | MatrixValue, b: Fraction | MatrixValue) -> Fraction | MatrixValue:
    if not isinstance(a, tuple):
        return _scale(b, a)
    if not isinstance(b, tuple):
        return _scale(a, b)
    if len(a[0]) != len(b):
        raise ParseError("a product of matrices whose shapes do not fit")
    out = tuple(
        tuple(sum((a[i][k] * b[k][j] for k in range(len(b))), Fraction(0)) for j in range(len(b[0])))
        for i in range(len(a))
    )
    for row in out:
        for x in row:
            if max(abs(x.numerator), x.denominator).bit_length() > MAX_BITS:
                raise TooCostly(f"a matrix entry over {MAX_BITS} bits refused")
    return out
