r"""Build fixtures/verifier_responses.jsonl: realistic whole model responses with known truth.

Each problem below is written by hand with its true answer, the reference as MATH or GSM8K
datasets write it, a few reasoning steps, answer forms that are right (equivalent spellings) and
answer forms that are wrong (near misses: a sign, a reciprocal, a missing part, an open end).
The script crosses them with response styles as math models write them (Qwen/DeepSeek/Llama/
Minerva/GSM8K-style chain of thought in Markdown and LaTeX), plus responses that are truncated
before any answer, hedge between two answers, or box an intermediate value before the final one.
About half the responses are right. Fixed seed: the file is reproducible.

    .venv/bin/python bench/make_responses.py            # writes fixtures/verifier_responses.jsonl
"""

# ruff: noqa: E501  (hand-written problem table: long LaTeX lines read better whole)
from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SEED = 20261121
OUT = Path(__file__).resolve().parents[1] / "fixtures" / "verifier_responses.jsonl"


@dataclass(frozen=True)
class Problem:
    q: str  # the question
    ref: str  # the reference as the dataset writes it
    steps: tuple[str, ...]  # reasoning steps (Markdown/LaTeX), in order
    right: tuple[tuple[str, str], ...]  # (answer as a model writes it, why it is right)
    wrong: tuple[tuple[str, str], ...]  # (answer as a model writes it, why it is wrong)
    plain: str = ""  # the answer as plain text (for "#### N" and "The answer is N" styles); "" = right[0]
    source: str = "MATH"


P = Problem
PROBLEMS: list[Problem] = [
    # ---------------------------------------------------------------- GSM8K-style word problems
    P(
        "A farmer collects 36 eggs on Monday and a third as many eggs on Tuesday. How many eggs does he "
        "collect on the two days together?",
        "On Tuesday he collects 36/3 = <<36/3=12>>12 eggs.\nTogether he collects 36+12 = <<36+12=48>>48 "
        "eggs.\n#### 48",
        (
            "On Tuesday he collects a third of 36: $36 \\div 3 = 12$ eggs.",
            "Together that is $36 + 12 = 48$ eggs.",
        ),
        (("48", "the number"), ("48 \\text{ eggs}", "number with a unit word")),
        (("12", "only Tuesday's eggs"), ("108", "tripled instead of a third")),
        source="GSM8K",
    ),
    P(
        "Maya earns $15 an hour tutoring. Yesterday she tutored for 40 minutes. How much did she earn?",
        "10",
        (
            "Maya earns $15 per hour, which is $15 / 60 = \\$0.25$ per minute.",
            "For 40 minutes she earns $0.25 \\times 40 = 10$ dollars.",
        ),
        (("10", "the amount"), ("\\$10", "dollar sign"), ("10.00", "cents written out")),
        (("600", "multiplied the rate by the minutes"), ("15", "the hourly rate")),
        source="GSM8K",
    ),
    P(
        "Leo wants a bike that costs $150. He has a third of the money. His aunt gives him $20 and his uncle "
        "gives him twice as much as his aunt. How much more money does Leo need?",
        "Leo has 150 / 3 = $<<150/3=50>>50.\nHis uncle gives him 20 * 2 = $<<20*2=40>>40.\nHe needs "
        "150 - 50 - 20 - 40 = $<<150-50-20-40=40>>40 more.\n#### 40",
        (
            "Leo has a third of $150$, so he has $\\$50$.",
            "His aunt gives $\\$20$ and his uncle twice as much, $2 \\times 20 = \\$40$.",
            "He now has $50 + 20 + 40 = 110$ dollars, so he still needs $150 - 110 = 40$ dollars.",
        ),
        (("40", "the amount"), ("\\$40", "dollar sign"), ("40 \\text{ dollars}", "unit word")),
        (("80", "forgot the uncle"), ("110", "what he has, not what he needs")),
        source="GSM8K",
    ),
    P(
        "Priya sends a 4-page report to 3 clients every week. How many pages does she send in a year of "
        "52 weeks?",
        "624",
        (
            "Each week she sends $4 \\times 3 = 12$ pages.",
            "Over 52 weeks that is $12 \\times 52 = 624$ pages.",
        ),
        (("624", "the number"), ("624 \\text{ pages}", "unit word")),
        (("208", "forgot the clients"), ("12", "pages per week")),
        source="GSM8K",
    ),
    P(
        "A store sold 1,200 notebooks in March, 25% more in April than in March. How many notebooks did it "
        "sell in April?",
        "1,500",
        (
            "25% of 1,200 is $0.25 \\times 1200 = 300$.",
            "So in April the store sold $1200 + 300 = 1500$ notebooks.",
        ),
        (
            ("1500", "no separator"),
            ("1,500", "thousands separator"),
            ("1{,}500", "LaTeX thousands separator"),
        ),
        (
            ("300", "only the increase"),
            ("1,200", "the March figure"),
            ("1.5", "thousands separator read as decimal"),
        ),
        source="GSM8K",
    ),
    P(
        "Omar is reading a 200-page novel. On Monday he read 20 pages and on Tuesday he read twice as many "
        "pages as on Monday. If he reads half of the remaining pages on Wednesday, how many pages does he "
        "read on Wednesday?",
        "Omar read 20 x 2 = <<20*2=40>>40 pages on Tuesday.\nSo he read 20 + 40 = <<20+40=60>>60 pages "
        "in two days.\nThere are 200 - 60 = <<200-60=140>>140 pages left.\nHalf of them is 140/2 = "
        "<<140/2=70>>70 pages.\n#### 70",
        (
            "On Tuesday he read $2 \\times 20 = 40$ pages, so far $20 + 40 = 60$ pages.",
            "Remaining: $200 - 60 = 140$ pages.",
            "Half of that is $140 / 2 = 70$ pages.",
        ),
        (("70", "the number"), ("70 \\text{ pages}", "unit word")),
        (("140", "remaining, not half"), ("80", "subtracted only Monday's pages")),
        source="GSM8K",
    ),
    P(
        "A bakery makes 3 batches of 28 cookies each day. How many cookies does it make in a week?",
        "588",
        (
            "Each day: $3 \\times 28 = 84$ cookies.",
            "In a week: $84 \\times 7 = 588$ cookies.",
        ),
        (("588", "the number"), ("588.0", "trailing zero decimal")),
        (("84", "one day only"), ("196", "one batch per day")),
        source="GSM8K",
    ),
    P(
        "Tom buys 4 shirts at $12.50 each and pays with a $100 bill. How much change does he get?",
        "50",
        (
            "The shirts cost $4 \\times 12.50 = \\$50$.",
            "His change is $100 - 50 = \\$50$.",
        ),
        (("50", "the number"), ("\\$50.00", "dollars and cents"), ("\\$ 50", "spaced dollar sign")),
        (("\\$50.50", "added a spurious half"), ("62.5", "five shirts")),
        source="GSM8K",
    ),
    P(
        "A train travels 180 miles in 3 hours. At the same speed, how long in hours does it take to "
        "travel 300 miles?",
        "5",
        (
            "The speed is $180 / 3 = 60$ miles per hour.",
            "Time for 300 miles: $300 / 60 = 5$ hours.",
        ),
        (("5", "the number"), ("5 \\text{ hours}", "unit word"), ("5\\text{ h}", "unit abbreviation")),
        (("60", "the speed"), ("6", "arithmetic slip")),
        source="GSM8K",
    ),
    P(
        "Sara has 3 times as many marbles as Ben. Together they have 64 marbles. How many marbles does "
        "Sara have?",
        "48",
        (
            "Let Ben have $b$ marbles; Sara has $3b$.",
            "Then $b + 3b = 4b = 64$, so $b = 16$.",
            "Sara has $3 \\times 16 = 48$ marbles.",
        ),
        (("48", "the number"), ("48 \\text{ marbles}", "unit word")),
        (("16", "Ben's marbles"), ("21.33", "divided by 3 instead of 4")),
        source="GSM8K",
    ),
    P(
        "A garden is 15 meters long and 8 meters wide. Fencing costs $7 per meter. How much does it cost "
        "to fence the garden?",
        "322",
        (
            "The perimeter is $2(15 + 8) = 46$ meters.",
            "The cost is $46 \\times 7 = 322$ dollars.",
        ),
        (("322", "the number"), ("\\$322", "dollar sign")),
        (("840", "used the area"), ("161", "half the perimeter")),
        source="GSM8K",
    ),
    P(
        "The population of a town is 20,000. It grows by 10% each year. What is the population after two "
        "years?",
        "24,200",
        (
            "After one year: $20000 \\times 1.1 = 22000$.",
            "After two years: $22000 \\times 1.1 = 24200$.",
        ),
        (("24200", "no separator"), ("24,200", "thousands separator"), ("24\\,200", "thin space separator")),
        (("24000", "simple interest"), ("22,000", "one year only")),
        source="GSM8K",
    ),
    # ---------------------------------------------------------------- MATH: numbers and fractions
    P(
        "What is the probability that a fair coin flipped three times shows exactly two heads?",
        "\\frac{3}{8}",
        (
            "There are $2^3 = 8$ equally likely outcomes.",
            "Exactly two heads can happen in $\\binom{3}{2} = 3$ ways.",
            "So the probability is $\\frac{3}{8}$.",
        ),
        (
            ("\\frac{3}{8}", "same fraction"),
            ("\\dfrac{3}{8}", "dfrac"),
            ("0.375", "exact decimal"),
            ("3/8", "slash"),
        ),
        (
            ("\\frac{1}{8}", "one arrangement only"),
            ("\\frac{3}{4}", "wrong denominator"),
            ("0.38", "rounded"),
        ),
    ),
    P(
        "Compute $\\frac{1}{2} + \\frac{1}{3} + \\frac{1}{6}$.",
        "1",
        (
            "Over the common denominator 6: $\\frac{3}{6} + \\frac{2}{6} + \\frac{1}{6}$.",
            "This is $\\frac{6}{6} = 1$.",
        ),
        (("1", "the number"), ("\\frac{6}{6}", "unreduced fraction"), ("1.0", "decimal")),
        (("\\frac{3}{11}", "added numerators and denominators"), ("\\frac{5}{6}", "dropped a term")),
    ),
    P(
        "Simplify $\\sqrt{50} - \\sqrt{8}$.",
        "3\\sqrt{2}",
        (
            "We have $\\sqrt{50} = 5\\sqrt{2}$ and $\\sqrt{8} = 2\\sqrt{2}$.",
            "So $\\sqrt{50} - \\sqrt{8} = 5\\sqrt{2} - 2\\sqrt{2} = 3\\sqrt{2}$.",
        ),
        (("3\\sqrt{2}", "same"), ("3 \\sqrt 2", "no braces"), ("\\sqrt{18}", "unsimplified radical")),
        (("\\sqrt{42}", "subtracted under the root"), ("2\\sqrt{3}", "swapped")),
    ),
    P(
        "What is the value of $\\sin 60^\\circ \\cos 30^\\circ$?",
        "\\frac{3}{4}",
        (
            "We know $\\sin 60^\\circ = \\frac{\\sqrt{3}}{2}$ and $\\cos 30^\\circ = \\frac{\\sqrt{3}}{2}$.",
            "Their product is $\\frac{3}{4}$.",
        ),
        (
            ("\\frac{3}{4}", "same"),
            ("0.75", "exact decimal"),
            ("\\frac{\\sqrt{3}\\cdot\\sqrt{3}}{4}", "unsimplified"),
        ),
        (("\\frac{\\sqrt{3}}{4}", "forgot to square"), ("\\frac{1}{4}", "used sin 30")),
    ),
    P(
        "Find the sum of all positive divisors of $36$.",
        "91",
        (
            "Since $36 = 2^2 \\cdot 3^2$, the divisor sum is $(1 + 2 + 4)(1 + 3 + 9)$.",
            "That is $7 \\cdot 13 = 91$.",
        ),
        (("91", "the number"), ("91.", "trailing period")),
        (("55", "proper divisors only"), ("9", "number of divisors")),
    ),
    P(
        "Evaluate $\\log_2 64 - \\log_3 27$.",
        "3",
        (
            "$\\log_2 64 = 6$ because $2^6 = 64$.",
            "$\\log_3 27 = 3$ because $3^3 = 27$.",
            "So the difference is $6 - 3 = 3$.",
        ),
        (("3", "the number"), ("3.0", "decimal")),
        (("-3", "sign flipped"), ("2", "ratio instead of difference")),
    ),
    P(
        "What is $\\frac{2}{3}$ of $\\frac{9}{10}$? Express your answer as a common fraction.",
        "\\frac{3}{5}",
        (
            "Multiply: $\\frac{2}{3} \\cdot \\frac{9}{10} = \\frac{18}{30}$.",
            "Reduce: $\\frac{18}{30} = \\frac{3}{5}$.",
        ),
        (
            ("\\frac{3}{5}", "same"),
            ("\\frac{18}{30}", "unreduced"),
            ("0.6", "exact decimal"),
            ("\\tfrac35", "tfrac"),
        ),
        (("\\frac{20}{27}", "divided instead"), ("\\frac{5}{3}", "reciprocal")),
    ),
    P(
        "Compute $2^{10} - 2^{9}$.",
        "512",
        (
            "Factor: $2^{10} - 2^9 = 2^9(2 - 1)$.",
            "So the value is $2^9 = 512$.",
        ),
        (("512", "the number"), ("2^9", "power form"), ("2^{9}", "braced power")),
        (("2", "subtracted exponents"), ("1024", "2^10")),
    ),
    P(
        "What is $0.\\overline{3} + 0.\\overline{6}$ as a common fraction?",
        "1",
        (
            "$0.\\overline{3} = \\frac{1}{3}$ and $0.\\overline{6} = \\frac{2}{3}$.",
            "Their sum is $\\frac{3}{3} = 1$.",
        ),
        (("1", "the number"), ("\\frac{3}{3}", "unreduced")),
        (("0.9", "truncated decimal"), ("\\frac{9}{10}", "truncated as fraction")),
    ),
    P(
        "What is the smallest positive integer $n$ such that $\\frac{1}{2^n} < 0.001$?",
        "10",
        (
            "We need $2^n > 1000$.",
            "$2^9 = 512 < 1000$ and $2^{10} = 1024 > 1000$.",
            "So the smallest such $n$ is $10$.",
        ),
        (("10", "the number"), ("n = 10", "written as an equation")),
        (("9", "off by one"), ("1024", "the power, not the exponent")),
    ),
    P(
        "Find $\\frac{1}{2^{99}} \\cdot 2$ as a power of $2$.",
        "\\frac{1}{2^{98}}",
        (
            "Multiplying by $2$ lowers the exponent in the denominator by one.",
            "So $\\frac{2}{2^{99}} = \\frac{1}{2^{98}}$.",
        ),
        (("\\frac{1}{2^{98}}", "same"), ("2^{-98}", "negative exponent")),
        (
            ("\\frac{1}{2^{99}}", "forgot the factor 2, differs by a tiny amount"),
            ("\\frac{1}{2^{100}}", "wrong way"),
        ),
    ),
    P(
        "Express $\\frac{1}{3}$ as a decimal rounded to the nearest thousandth.",
        "0.333",
        (
            "$\\frac{1}{3} = 0.3333\\ldots$",
            "Rounded to the nearest thousandth: $0.333$.",
        ),
        (("0.333", "same"), (".333", "no leading zero")),
        (("0.334", "rounded up"), ("0.33", "hundredths")),
    ),
    P(
        "A rectangle has perimeter 30 and area 56. What is the length of its longer side?",
        "8",
        (
            "Let the sides be $a$ and $b$: $a + b = 15$ and $ab = 56$.",
            "They are the roots of $t^2 - 15t + 56 = 0$, i.e. $(t - 7)(t - 8) = 0$.",
            "The longer side is $8$.",
        ),
        (("8", "the number"), ("8 \\text{ units}", "unit word")),
        (("7", "shorter side"), ("15", "half perimeter")),
    ),
    P(
        "What is $6!$ divided by $4!$?",
        "30",
        (
            "$\\frac{6!}{4!} = 6 \\cdot 5$.",
            "That is $30$.",
        ),
        (("30", "the number"), ("6 \\cdot 5", "product left unevaluated")),
        (("\\frac{3}{2}", "divided 6 by 4"), ("720", "6! itself")),
    ),
    P(
        "Round $3.14159$ to the nearest hundredth.",
        "3.14",
        ("The hundredths digit is 4 and the next digit is 1, so we round down.", "The result is $3.14$."),
        (("3.14", "same"), ("3.140", "trailing zero")),
        (("3.15", "rounded up"), ("3.1", "tenths")),
    ),
    P(
        "Write $2.5 \\times 10^{-3}$ in standard decimal notation.",
        "0.0025",
        ("Moving the decimal point three places to the left gives $0.0025$.",),
        (
            ("0.0025", "same"),
            ("2.5\\times10^{-3}", "scientific notation"),
            ("\\frac{1}{400}", "exact fraction"),
        ),
        (("0.025", "two places"), ("0.00025", "four places")),
    ),
    P(
        "Write $3\\frac{1}{4}$ as an improper fraction.",
        "\\frac{13}{4}",
        ("$3\\frac{1}{4} = \\frac{12}{4} + \\frac{1}{4}$.", "So it is $\\frac{13}{4}$."),
        (("\\frac{13}{4}", "same"), ("3.25", "decimal"), ("3\\frac{1}{4}", "mixed number")),
        (("\\frac{7}{4}", "added instead of multiplied"), ("\\frac{4}{13}", "reciprocal")),
    ),
    # ---------------------------------------------------------------- MATH: expressions
    P(
        "Factor $x^2 - 9$.",
        "(x-3)(x+3)",
        ("This is a difference of squares: $x^2 - 3^2$.", "So $x^2 - 9 = (x - 3)(x + 3)$."),
        (
            ("(x-3)(x+3)", "same"),
            ("(x+3)(x-3)", "factors swapped"),
            ("\\left(x-3\\right)\\left(x+3\\right)", "left/right"),
        ),
        (("(x-3)^2", "perfect square by mistake"), ("(x-9)(x+1)", "wrong factors")),
    ),
    P(
        "Expand $(2x + 1)^2$.",
        "4x^2 + 4x + 1",
        ("$(2x + 1)^2 = (2x)^2 + 2 \\cdot 2x \\cdot 1 + 1^2$.", "This is $4x^2 + 4x + 1$."),
        (("4x^2 + 4x + 1", "same"), ("4x^2+4x+1", "no spaces"), ("1 + 4x + 4x^2", "reordered")),
        (("4x^2 + 1", "dropped the cross term"), ("4x^2 + 2x + 1", "wrong cross term")),
    ),
    P(
        "Simplify $\\frac{x^2 - 1}{x - 1}$ for $x \\neq 1$.",
        "x + 1",
        ("Factor the numerator: $x^2 - 1 = (x - 1)(x + 1)$.", "Cancel $x - 1$: the result is $x + 1$."),
        (("x + 1", "same"), ("1 + x", "reordered"), ("x+1", "no spaces")),
        (("x - 1", "sign slip"), ("x", "dropped the constant")),
    ),
    P(
        "Find $f^{-1}(x)$ if $f(x) = 3x - 5$.",
        "\\frac{x+5}{3}",
        ("Set $y = 3x - 5$ and solve for $x$: $x = \\frac{y + 5}{3}$.", "So $f^{-1}(x) = \\frac{x + 5}{3}$."),
        (
            ("\\frac{x+5}{3}", "same"),
            ("\\frac{x}{3} + \\frac{5}{3}", "split fraction"),
            ("f^{-1}(x) = \\frac{x+5}{3}", "as a definition"),
        ),
        (("\\frac{x-5}{3}", "sign slip"), ("3x + 5", "not an inverse")),
    ),
    P(
        "What is the derivative of $x^3 \\sin x$?",
        "3x^2 \\sin x + x^3 \\cos x",
        (
            "By the product rule, $(x^3)' \\sin x + x^3 (\\sin x)'$.",
            "This gives $3x^2 \\sin x + x^3 \\cos x$.",
        ),
        (
            ("3x^2 \\sin x + x^3 \\cos x", "same"),
            ("x^2(3\\sin x + x\\cos x)", "factored"),
            ("x^3\\cos(x) + 3x^2\\sin(x)", "reordered"),
        ),
        (
            ("3x^2 \\cos x", "derivative of each factor multiplied"),
            ("3x^2 \\sin x - x^3 \\cos x", "sign slip"),
        ),
    ),
    P(
        "Simplify $(3 + 2i)(1 - i)$.",
        "5 - i",
        ("Expand: $3 - 3i + 2i - 2i^2$.", "Since $i^2 = -1$: $3 - i + 2 = 5 - i$."),
        (("5 - i", "same"), ("5-i", "no spaces"), ("-i + 5", "reordered")),
        (("1 - i", "i^2 taken as +1"), ("5 + i", "sign slip")),
    ),
    P(
        "What is the exact value of $\\arctan 1 + \\arctan \\sqrt{3}$?",
        "\\frac{7\\pi}{12}",
        (
            "$\\arctan 1 = \\frac{\\pi}{4}$ and $\\arctan \\sqrt{3} = \\frac{\\pi}{3}$.",
            "The sum is $\\frac{3\\pi}{12} + \\frac{4\\pi}{12} = \\frac{7\\pi}{12}$.",
        ),
        (("\\frac{7\\pi}{12}", "same"), ("\\frac{7}{12}\\pi", "coefficient form")),
        (("\\frac{5\\pi}{12}", "wrong sum"), ("\\frac{\\pi}{12}", "subtracted")),
    ),
    # ---------------------------------------------------------------- MATH: structures
    P(
        "Solve the inequality $3x - 4 \\le 2$.",
        "(-\\infty, 2]",
        ("Add 4 to both sides: $3x \\le 6$.", "Divide by 3: $x \\le 2$."),
        (
            ("(-\\infty, 2]", "same interval"),
            ("(-\\infty,2]", "no space"),
            ("x \\le 2", "as an inequality"),
            ("\\left(-\\infty, 2\\right]", "left/right"),
        ),
        (("(-\\infty, 2)", "open end"), ("[2, \\infty)", "wrong direction"), ("x < 2", "strict inequality")),
    ),
    P(
        "Find all $x$ with $|x - 1| < 3$. Express your answer in interval notation.",
        "(-2, 4)",
        ("$|x - 1| < 3$ means $-3 < x - 1 < 3$.", "Adding 1: $-2 < x < 4$."),
        (("(-2, 4)", "same"), ("(-2,4)", "no space"), ("-2 < x < 4", "chained inequality")),
        (("[-2, 4]", "closed ends"), ("(-4, 2)", "wrong shift")),
    ),
    P(
        "For what values of $x$ is $x^2 - 5x + 6 > 0$? Express your answer in interval notation.",
        "(-\\infty, 2) \\cup (3, \\infty)",
        ("Factor: $(x - 2)(x - 3) > 0$.", "The product is positive outside the roots: $x < 2$ or $x > 3$."),
        (
            ("(-\\infty, 2) \\cup (3, \\infty)", "same"),
            ("(-\\infty,2)\\cup(3,\\infty)", "no spaces"),
            ("(3, \\infty) \\cup (-\\infty, 2)", "union reordered"),
        ),
        (("(2, 3)", "between the roots"), ("(-\\infty, 2] \\cup [3, \\infty)", "closed ends")),
    ),
    P(
        "Find all solutions to $x^2 - 7x + 10 = 0$. Enter all the solutions, separated by commas.",
        "2, 5",
        ("Factor: $(x - 2)(x - 5) = 0$.", "So $x = 2$ or $x = 5$."),
        (
            ("2, 5", "same"),
            ("5, 2", "unordered list"),
            ("\\{2, 5\\}", "set braces"),
            ("x = 2, 5", "with the variable"),
        ),
        (("5", "missing a root"), ("2, 5, 7", "extra root"), ("-2, -5", "signs flipped")),
    ),
    P(
        "Solve $x^2 = 16$.",
        "\\pm 4",
        ("Taking square roots, $x = 4$ or $x = -4$.",),
        (("\\pm 4", "same"), ("-4, 4", "both roots listed"), ("x = \\pm 4", "with the variable")),
        (("4", "missing the negative root"), ("\\pm 8", "halved instead of rooted")),
    ),
    P(
        "Find the point where the lines $y = 2x + 1$ and $y = -x + 7$ intersect.",
        "(2, 5)",
        ("Set $2x + 1 = -x + 7$: $3x = 6$, so $x = 2$.", "Then $y = 2(2) + 1 = 5$."),
        (("(2, 5)", "same"), ("(2,5)", "no space"), ("\\left( 2, 5 \\right)", "left/right")),
        (("(5, 2)", "coordinates swapped"), ("(2, 3)", "wrong y")),
    ),
    P(
        "Compute $\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix} + \\begin{pmatrix} 0 & 1 \\\\ 1 & 0 \\end{pmatrix}$.",
        "\\begin{pmatrix} 1 & 3 \\\\ 4 & 4 \\end{pmatrix}",
        ("Add entrywise.", "The sum is $\\begin{pmatrix} 1 & 3 \\\\ 4 & 4 \\end{pmatrix}$."),
        (
            ("\\begin{pmatrix} 1 & 3 \\\\ 4 & 4 \\end{pmatrix}", "same"),
            ("\\begin{bmatrix} 1 & 3 \\\\ 4 & 4 \\end{bmatrix}", "bmatrix"),
        ),
        (
            ("\\begin{pmatrix} 1 & 4 \\\\ 3 & 4 \\end{pmatrix}", "transposed"),
            ("\\begin{pmatrix} 1 & 3 \\\\ 4 & 5 \\end{pmatrix}", "one entry off"),
        ),
    ),
    P(
        "Find the vector $\\mathbf{v}$ such that $2\\mathbf{v} = \\begin{pmatrix} 4 \\\\ -6 \\end{pmatrix}$.",
        "\\begin{pmatrix} 2 \\\\ -3 \\end{pmatrix}",
        ("Divide each component by 2.",),
        (
            ("\\begin{pmatrix} 2 \\\\ -3 \\end{pmatrix}", "same"),
            ("\\begin{pmatrix}2\\\\-3\\end{pmatrix}", "no spaces"),
        ),
        (
            ("\\begin{pmatrix} 2 \\\\ 3 \\end{pmatrix}", "lost the sign"),
            ("\\begin{pmatrix} 8 \\\\ -12 \\end{pmatrix}", "multiplied"),
        ),
    ),
    P(
        "What is the determinant of $\\begin{pmatrix} 2 & 1 \\\\ 5 & 3 \\end{pmatrix}$?",
        "1",
        ("$\\det = 2 \\cdot 3 - 1 \\cdot 5$.", "That is $6 - 5 = 1$."),
        (("1", "the number"), ("\\det = 1", "with a label")),
        (("11", "added the products"), ("-1", "sign slip")),
    ),
    P(
        "Find the equation of the line through $(0, 1)$ with slope $2$.",
        "y = 2x + 1",
        ("Point-slope form with intercept 1 gives $y = 2x + 1$.",),
        (("y = 2x + 1", "same"), ("y=2x+1", "no spaces"), ("2x - y + 1 = 0", "general form")),
        (("y = 2x - 1", "sign slip"), ("y = x + 2", "swapped slope and intercept")),
    ),
    P(
        "Solve for $x$: $5x - 3 = 2x + 9$.",
        "4",
        ("Subtract $2x$: $3x - 3 = 9$.", "Add 3: $3x = 12$, so $x = 4$."),
        (("4", "the number"), ("x = 4", "as an equation"), ("x=4", "no spaces")),
        (("2", "arithmetic slip"), ("x = -4", "sign slip")),
    ),
    P(
        "Which of the following is the largest? (A) $2^6$ (B) $3^4$ (C) $4^3$ (D) $5^2$ (E) $6^2$",
        "\\text{(B)}",
        (
            "$2^6 = 64$, $3^4 = 81$, $4^3 = 64$, $5^2 = 25$, $6^2 = 36$.",
            "The largest is $3^4 = 81$, choice (B).",
        ),
        (("\\text{(B)}", "same"), ("(B)", "parenthesised letter"), ("B", "bare letter")),
        (("\\text{(A)}", "another letter"), ("(E)", "another letter")),
    ),
    P(
        "If $2x + 3 = 11$, what is $x$? (A) 3 (B) 4 (C) 5 (D) 7",
        "\\textbf{(B)}",
        ("Subtract 3: $2x = 8$.", "Divide by 2: $x = 4$, which is choice (B)."),
        (
            ("\\textbf{(B)}", "same"),
            ("\\text{(B)}", "text instead of bold"),
            ("(B)\\ 4", "letter with its value"),
        ),
        (("(C)", "another letter"), ("\\textbf{(D)}", "another letter")),
    ),
    # ---------------------------------------------------------------- MATH: text, units, percent, degrees
    P(
        "If today is Friday, what day of the week will it be 100 days from now?",
        "\\text{Sunday}",
        ("$100 = 14 \\cdot 7 + 2$, so we move 2 days forward.", "Two days after Friday is Sunday."),
        (("\\text{Sunday}", "same"), ("Sunday", "plain word"), ("\\textbf{Sunday}", "bold")),
        (("\\text{Saturday}", "one day off"), ("\\text{Monday}", "three days off")),
    ),
    P(
        "What percent of 80 is 20?",
        "25\\%",
        ("$\\frac{20}{80} = \\frac{1}{4}$.", "As a percent that is $25\\%$."),
        (("25\\%", "same"), ("25", "the number without the percent sign"), ("25 \\%", "spaced percent")),
        (("0.4", "inverted"), ("4\\%", "inverted percent")),
    ),
    P(
        "Each interior angle of a regular polygon measures $140^\\circ$. How many sides does it have?",
        "9",
        (
            "The exterior angle is $180^\\circ - 140^\\circ = 40^\\circ$.",
            "The number of sides is $\\frac{360}{40} = 9$.",
        ),
        (("9", "the number"), ("9 \\text{ sides}", "unit word")),
        (("40", "exterior angle"), ("7", "miscounted")),
    ),
    P(
        "What is the measure, in degrees, of each interior angle of a regular hexagon?",
        "120^\\circ",
        (
            "The angle sum is $(6 - 2) \\cdot 180^\\circ = 720^\\circ$.",
            "Each angle is $\\frac{720^\\circ}{6} = 120^\\circ$.",
        ),
        (("120^\\circ", "same"), ("120", "without the degree sign"), ("120^{\\circ}", "braced degree")),
        (("60^\\circ", "exterior angle"), ("720^\\circ", "the angle sum")),
    ),
    P(
        "A cylinder has radius $3$ cm and height $5$ cm. What is its volume in cubic centimeters? Express "
        "your answer in terms of $\\pi$.",
        "45\\pi",
        ("$V = \\pi r^2 h = \\pi \\cdot 9 \\cdot 5$.", "So $V = 45\\pi$ cubic centimeters."),
        (("45\\pi", "same"), ("45\\pi \\text{ cm}^3", "with the unit"), ("45 \\pi", "spaced")),
        (("15\\pi", "used r instead of r^2"), ("30\\pi", "lateral area")),
    ),
    P(
        "How many centimeters are in $2.5$ meters?",
        "250",
        ("One meter is 100 centimeters.", "So $2.5 \\times 100 = 250$ centimeters."),
        (("250", "the number"), ("250\\text{ cm}", "with the unit")),
        (("25", "factor 10"), ("2500", "factor 1000")),
    ),
    P(
        "The sides of a triangle are $5$, $12$ and $13$. What is the area of the triangle?",
        "30",
        (
            "$5^2 + 12^2 = 169 = 13^2$, so it is a right triangle.",
            "Its area is $\\frac{1}{2} \\cdot 5 \\cdot 12 = 30$.",
        ),
        (("30", "the number"), ("30 \\text{ square units}", "unit words")),
        (("60", "forgot the half"), ("32.5", "used the hypotenuse")),
    ),
    P(
        "What is the remainder when $2^{100}$ is divided by $7$?",
        "2",
        (
            "The powers of 2 mod 7 cycle with period 3: $2, 4, 1$.",
            "$100 = 3 \\cdot 33 + 1$, so $2^{100} \\equiv 2^1 = 2 \\pmod 7$.",
        ),
        (("2", "the number"),),
        (("4", "off by one in the cycle"), ("1", "cycle misread")),
    ),
    P(
        "How many positive three-digit integers are divisible by $7$?",
        "128",
        (
            "The smallest is $105 = 7 \\cdot 15$ and the largest is $994 = 7 \\cdot 142$.",
            "So there are $142 - 15 + 1 = 128$ of them.",
        ),
        (("128", "the number"),),
        (("127", "off by one"), ("129", "off by one")),
    ),
    P(
        "Convert $1011_2$ to base 10.",
        "11",
        ("$1011_2 = 1 \\cdot 8 + 0 \\cdot 4 + 1 \\cdot 2 + 1$.", "That is $11$."),
        (("11", "the number"), ("11_{10}", "base subscript")),
        (("13", "read backwards"), ("1011", "not converted")),
    ),
    P(
        "What is the sum of the interior angles of a pentagon, in degrees?",
        "540",
        ("The formula is $(n - 2) \\cdot 180^\\circ$.", "For $n = 5$: $3 \\cdot 180^\\circ = 540^\\circ$."),
        (("540", "the number"), ("540^\\circ", "degree sign")),
        (("108", "one angle"), ("720", "hexagon")),
    ),
    P(
        "The roots of $x^2 + bx + c = 0$ are $3$ and $-4$. What is $b + c$?",
        "-11",
        ("By Vieta, $b = -(3 + (-4)) = 1$ and $c = 3 \\cdot (-4) = -12$.", "So $b + c = 1 - 12 = -11$."),
        (("-11", "the number"), ("−11", "unicode minus")),
        (("11", "sign lost"), ("-13", "b sign slip")),
    ),
    P(
        "How many ways can 5 books be arranged on a shelf if two particular books must be together?",
        "48",
        (
            "Glue the two books into one block: $4!$ arrangements of 4 items.",
            "The two books can be ordered in $2$ ways: $4! \\cdot 2 = 48$.",
        ),
        (("48", "the number"), ("2 \\cdot 4!", "unevaluated product")),
        (("24", "forgot the internal order"), ("120", "no restriction")),
    ),
    P(
        "Find the largest prime factor of $1001$.",
        "13",
        ("$1001 = 7 \\cdot 11 \\cdot 13$.", "The largest prime factor is $13$."),
        (("13", "the number"),),
        (("11", "middle factor"), ("143", "not prime")),
    ),
    P(
        "If $a = 3$ and $b = -2$, what is $a^2 b - a b^2$?",
        "-30",
        (
            "$a^2 b = 9 \\cdot (-2) = -18$.",
            "$a b^2 = 3 \\cdot 4 = 12$.",
            "So $a^2 b - a b^2 = -18 - 12 = -30$.",
        ),
        (("-30", "the number"),),
        (("-6", "added instead of subtracted"), ("30", "sign lost")),
    ),
    P(
        "What is the volume of a cube whose surface area is $54$ square units?",
        "27",
        ("Each face has area $54 / 6 = 9$, so the edge is $3$.", "The volume is $3^3 = 27$."),
        (("27", "the number"), ("27 \\text{ cubic units}", "unit words")),
        (("9", "face area"), ("729", "cubed the face area")),
    ),
    P(
        "Find the distance between the points $(1, 2)$ and $(4, 6)$.",
        "5",
        ("The differences are $3$ and $4$.", "The distance is $\\sqrt{3^2 + 4^2} = \\sqrt{25} = 5$."),
        (("5", "the number"), ("\\sqrt{25}", "unevaluated root")),
        (("7", "added the differences"), ("25", "forgot the root")),
    ),
    P(
        "Let $f(x) = x^2 + 1$ and $g(x) = 2x - 3$. Find $f(g(2))$.",
        "2",
        ("$g(2) = 4 - 3 = 1$.", "$f(1) = 1 + 1 = 2$."),
        (("2", "the number"), ("f(g(2)) = 2", "as an equation")),
        (("7", "composed the other way"), ("5", "f(2)")),
    ),
    # ---------------------------------------------------------------- AMC-style choices, as MATH writes them
    P(
        "A bag has 4 red and 6 blue marbles. Two are drawn without replacement. What is the probability "
        "that both are red? $\\textbf{(A) }\\frac{1}{15}\\qquad\\textbf{(B) }\\frac{2}{15}\\qquad"
        "\\textbf{(C) }\\frac{4}{25}\\qquad\\textbf{(D) }\\frac{1}{5}\\qquad\\textbf{(E) }\\frac{2}{5}$",
        "\\textbf{(B) }\\frac{2}{15}",
        (
            "The first marble is red with probability $\\frac{4}{10}$, the second then with $\\frac{3}{9}$.",
            "The product is $\\frac{12}{90} = \\frac{2}{15}$, which is choice $\\textbf{(B)}$.",
        ),
        (
            ("\\textbf{(B) }\\frac{2}{15}", "same AMC form"),
            ("\\textbf{(B)}", "bold letter only"),
            ("B", "bare letter"),
            ("\\frac{2}{15}", "the option's value"),
        ),
        (("\\textbf{(C) }\\frac{4}{25}", "with replacement"), ("(A)", "another letter")),
    ),
    P(
        "How many positive divisors does $360$ have? $\\textbf{(A) }18\\qquad\\textbf{(B) }20\\qquad"
        "\\textbf{(C) }24\\qquad\\textbf{(D) }30\\qquad\\textbf{(E) }36$",
        "\\textbf{(C) }24",
        (
            "$360 = 2^3 \\cdot 3^2 \\cdot 5$.",
            "The number of divisors is $(3+1)(2+1)(1+1) = 24$, choice $\\textbf{(C)}$.",
        ),
        (
            ("\\textbf{(C) }24", "same AMC form"),
            ("\\text{(C)}", "text letter"),
            ("(C)\\ 24", "letter with its value"),
            ("24", "the option's value"),
        ),
        (("\\textbf{(B) }20", "another option"), ("12", "counted the prime-power pairs wrong")),
    ),
]


# ------------------------------------------------------------------------------------- response styles

Style = Callable[[Problem, str, random.Random], str]


def _plain(answer: str) -> str:
    """A LaTeX answer as a GSM8K-style model writes it in plain text (best effort)."""
    out = answer.replace("\\text{ ", " ").replace("\\text{", "").replace("\\$", "$").replace("\\,", "")
    out = out.replace("}", "").replace("{", "")
    return out.strip()


def _numbered(steps: tuple[str, ...]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))


def qwen_boxed(p: Problem, ans: str, rng: random.Random) -> str:
    intro = rng.choice(
        [
            "To solve this problem, we proceed step by step.",
            "Let's work through this carefully.",
            "We start by analysing the given information.",
        ]
    )
    close = rng.choice(["Therefore, the final answer is", "Thus, the answer is", "So, the final answer is"])
    return f"{intro}\n\n{_numbered(p.steps)}\n\n{close} $\\boxed{{{ans}}}$."


def qwen_display(p: Problem, ans: str, rng: random.Random) -> str:
    body = "\n\n".join(f"### Step {i}\n{s}" for i, s in enumerate(p.steps, 1))
    return f"{body}\n\n### Final Answer\n\\[\n\\boxed{{{ans}}}\n\\]"


def deepseek_think(p: Problem, ans: str, rng: random.Random) -> str:
    musing = " ".join(p.steps)
    check = rng.choice(
        [
            "Wait, let me double-check that.",
            "Hmm, let me verify this again.",
            "Let me make sure I didn't make an arithmetic error.",
        ]
    )
    return (
        f"<think>\nOkay, so I need to solve this. {p.q}\n\n{musing}\n\n{check} {p.steps[-1]}\n\n"
        f"Yes, that seems right.\n</think>\n\n**Solution:**\n\n{_numbered(p.steps)}\n\n**Final Answer**\n\\[\n\\boxed{{{ans}}}\n\\]"
    )


def llama_steps(p: Problem, ans: str, rng: random.Random) -> str:
    body = "\n\n".join(f"## Step {i}: {s}" for i, s in enumerate(p.steps, 1))
    return f"{body}\n\nThe final answer is: $\\boxed{{{ans}}}$"


def minerva(p: Problem, ans: str, rng: random.Random) -> str:
    return f"{' '.join(p.steps)}\nFinal Answer: The final answer is ${ans}$. I hope it is correct."


def gsm8k_hash(p: Problem, ans: str, rng: random.Random) -> str:
    return "\n".join(p.steps) + f"\n#### {_plain(ans)}"


def bold_answer(p: Problem, ans: str, rng: random.Random) -> str:
    form = rng.choice(["**Answer:** ${a}$", "**Answer: ${a}$**", "**Final Answer:** ${a}$"])
    return "\n\n".join(p.steps) + "\n\n" + form.replace("{a}", ans)


def answer_is(p: Problem, ans: str, rng: random.Random) -> str:
    lead = rng.choice(["So the answer is", "The answer is", "Hence the answer is"])
    return " ".join(p.steps) + f" {lead} ${ans}$."


def boxed_then_check(p: Problem, ans: str, rng: random.Random) -> str:
    """The answer is boxed, then the model keeps talking about the numbers (a verification)."""
    return (
        f"{_numbered(p.steps)}\n\nThe answer is $\\boxed{{{ans}}}$.\n\n"
        f"**Verification:** plugging back in, {p.steps[0][0].lower()}{p.steps[0][1:]} This confirms the result."
    )


STYLES: dict[str, Style] = {
    "qwen_boxed": qwen_boxed,
    "qwen_display": qwen_display,
    "deepseek_think": deepseek_think,
    "llama_steps": llama_steps,
    "minerva": minerva,
    "gsm8k_hash": gsm8k_hash,
    "bold_answer": bold_answer,
    "answer_is": answer_is,
    "boxed_then_check": boxed_then_check,
}


def truncated(p: Problem, rng: random.Random) -> str:
    """Cut off mid-reasoning (a generation that hit max_tokens): no final answer at all."""
    style = rng.choice(["qwen_display", "deepseek_think", "llama_steps"])
    text = STYLES[style](p, "0", rng)
    cut = text.find(p.steps[-1]) if len(p.steps) > 1 else -1
    if cut <= 0:
        cut = max(20, len(text) // 3)
    text = text[:cut].rstrip()
    for marker in ("\\boxed", "Final Answer", "answer is", "####"):
        if marker in text:
            text = text[: text.index(marker)].rstrip()
    words = text.split(" ")
    return " ".join(words[: max(3, len(words) - 2)])


def hedged(p: Problem, wrong: str, rng: random.Random) -> str:
    """Two candidate answers, one right: not a match."""
    right = p.right[0][0]
    first, second = (right, wrong) if rng.random() < 0.5 else (wrong, right)
    return f"{_numbered(p.steps[:-1]) or p.steps[0]}\n\nI'm not fully sure; the answer is either ${first}$ or ${second}$."


def intermediate_box(p: Problem, ans: str, wrong: str, rng: random.Random) -> str:
    """An intermediate value is boxed first; the final boxed answer is what counts."""
    return (
        f"{p.steps[0]} So we get $\\boxed{{{wrong}}}$ for this part.\n\nBut the question asks for something else. "
        + " ".join(p.steps[1:])
        + f"\n\nThe final answer is $\\boxed{{{ans}}}$."
    )


# ------------------------------------------------------------------------------------- the table


def build(rng: random.Random) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    style_names = list(STYLES)

    def add(pred: str, p: Problem, expected: bool, why: str) -> None:
        rows.append({"pred": pred, "ref": p.ref, "expected": expected, "category": "realistic", "why": why})

    for p in PROBLEMS:
        # right answers: every equivalent spelling once, each in a different style
        for ans, note in p.right:
            style = rng.choice(style_names)
            if style == "gsm8k_hash" and ("\\" in ans or "^" in ans):
                style = "qwen_boxed"
            add(STYLES[style](p, ans, rng), p, True, f"{style}: right answer ({note})")
        # wrong answers: every near miss once
        for ans, note in p.wrong:
            style = rng.choice(style_names)
            if style == "gsm8k_hash" and ("\\" in ans or "^" in ans):
                style = "llama_steps"
            add(STYLES[style](p, ans, rng), p, False, f"{style}: wrong answer ({note})")
        # one response of a special shape per problem, drawn at random
        shape = rng.choice(["truncated", "hedged", "intermediate_right", "intermediate_wrong"])
        wrong_ans = rng.choice(p.wrong)[0]
        if shape == "truncated":
            add(truncated(p, rng), p, False, "truncated before any final answer (no answer)")
        elif shape == "hedged":
            add(hedged(p, wrong_ans, rng), p, False, "hedged between the right answer and a wrong one")
        elif shape == "intermediate_right":
            add(
                intermediate_box(p, p.right[0][0], wrong_ans, rng),
                p,
                True,
                "intermediate box, final box right",
            )
        else:
            add(
                intermediate_box(p, wrong_ans, p.right[0][0], rng),
                p,
                False,
                "right value boxed early, final box wrong",
            )
    # raw decodes: a rollout decoded without skip_special_tokens ends in the model's end-of-turn token
    eos_rng = random.Random(SEED + 1)
    for i, p in enumerate(eos_rng.sample(PROBLEMS, 2 * len(EOS_TOKENS))):
        eos = EOS_TOKENS[i % len(EOS_TOKENS)]  # each token once after a right answer, once after a wrong one
        right = i < len(EOS_TOKENS)
        ans = p.right[0][0] if right else p.wrong[0][0]
        text = STYLES[eos_rng.choice(["qwen_boxed", "llama_steps", "deepseek_think"])](p, ans, eos_rng)
        add(text + eos, p, right, f"raw decode ending in {eos}: {'right' if right else 'wrong'} answer")
    # multiple-choice endings as chat models write them, without a box
    choice_rng = random.Random(SEED + 2)
    choice_problems = [p for p in PROBLEMS if "(A)" in p.q]
    for p in choice_problems:
        letter = _letter(p.ref)
        wrong = next(_letter(a) for a, _ in p.wrong if _letter(a))
        for template in CHOICE_ENDINGS:
            right = choice_rng.random() < 0.5
            said = letter if right else wrong
            add(
                "\n\n".join(p.steps) + "\n\n" + template.format(L=said),
                p,
                right,
                f"choice ending {template[:24]!r}: {'right' if right else 'wrong'} letter",
            )
    return rows


CHOICE_ENDINGS = [
    "The correct answer is option **{L}**.",
    "Therefore, the correct option is ({L}).",
    "**Answer: ({L})**",
    "So the answer is $\\boxed{{\\text{{({L})}}}}$.",
]


def _letter(answer: str) -> str:
    """The option letter in an answer such as ``\\textbf{(B) }\\frac{2}{15}`` or ``(E)``; "" if none."""
    m = re.search(r"\(([A-E])\)", answer) or re.fullmatch(r"\s*([A-E])\s*", answer)
    return m.group(1) if m else ""


# end-of-turn tokens of Qwen, Llama 3, DeepSeek and Llama 2 / Mistral chat templates
EOS_TOKENS = ["<|im_end|>", "<|eot_id|>", "<｜end▁of▁sentence｜>", "</s>", "<|endoftext|>"]


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else OUT
    rows = build(random.Random(SEED))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    right = sum(1 for r in rows if r["expected"])
    print(f"wrote {len(rows)} responses ({right} right, {len(rows) - right} wrong) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
