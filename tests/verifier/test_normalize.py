"""Every normalisation rule, on its own, in both directions (what it changes and what it must not)."""

from __future__ import annotations

import pytest

from verifier.normalize import RULES, normalize, unit_of

RULE = {r.name: r.apply for r in RULES}

# (rule, input, output): each rule has at least one example it changes and one it leaves alone
EXAMPLES = [
    ("invisible_characters", "1\u200b2", "12"),
    ("invisible_characters", "\ufeff\u200d12\u2060", "12"),
    ("invisible_characters", "1\u00ad000", "1000"),
    ("invisible_characters", "1 2", "1 2"),
    ("unbalanced_braces", "\\sqrt{2", "\\sqrt{2}"),
    ("unbalanced_braces", "\\frac{1}{2", "\\frac{1}{2}"),
    ("unbalanced_braces", "\\frac{1}{2}}}}", "\\frac{1}{2}"),
    ("unbalanced_braces", "\\frac{1}{2} } }", "\\frac{1}{2}"),
    ("unbalanced_braces", "yes}", "yes}"),
    ("unbalanced_braces", "\\boxed{5", "\\boxed{5"),
    ("unbalanced_braces", "\\boxed{\\sqrt{2", "\\boxed{\\sqrt{2"),
    ("unbalanced_braces", "\\fbox {\\frac{1}{2}", "\\fbox {\\frac{1}{2}"),
    ("unbalanced_braces", "\\boxed{\\sqrt{2}", "\\boxed{\\sqrt{2}"),
    ("unbalanced_braces", "a}b{", "a}b{"),
    ("unbalanced_braces", "\\{1, 2", "\\{1, 2"),
    ("unbalanced_braces", "\\frac{1}{2}", "\\frac{1}{2}"),
    ("unit_fonts", "5\\textbf{ cm}", "5\\text{ cm}"),
    ("unit_fonts", "5\\mathrm{cm}^2", "5\\text{cm}^2"),
    ("unit_fonts", "5\\textnormal{ feet}", "5\\text{ feet}"),
    ("unit_fonts", "\\mathrm{d}x", "\\mathrm{d}x"),
    ("unit_fonts", "\\mathbf{v}", "\\mathbf{v}"),
    ("unit_fonts", "\\textbf{(C) }12", "\\textbf{(C) }12"),
    ("command_aliases", "oo", "\\infty "),
    ("command_aliases", "-oo", "-\\infty "),
    ("command_aliases", "too", "too"),
    ("command_aliases", "\\textnormal{ m}", "\\text{ m}"),
    ("x_times_ten", "4.65 x 10^-34", "4.65 \\times 10^-34"),
    ("x_times_ten", "4.65x10^{-34}", "4.65 \\times 10^{-34}"),
    ("x_times_ten", "2x 10^3", "2x 10^3"),
    ("x_times_ten", "a x 10^3", "a x 10^3"),
    ("x_times_ten", "2 x 3", "2 x 3"),
    ("unicode_symbols", "\u22125", "-5"),
    ("unicode_symbols", "\uff14\uff12", "42"),
    ("unicode_symbols", "3\u00d74", "3\\times 4"),
    ("unicode_symbols", "2\u03c0", "2\\pi "),
    ("unicode_symbols", "x \u2264 3", "x \\le  3"),
    ("unicode_symbols", "x^2", "x^2"),
    ("unicode_symbols", "2\u2077", "2^{7}"),
    ("unicode_symbols", "x\u00b2-1", "x^{2}-1"),
    ("unicode_symbols", "x\u207b\u00b9", "x^{-1}"),
    ("unicode_symbols", "x\u2081\u2080", "x_{10}"),
    ("unicode_symbols", "\u00bd", " \\frac{1}{2}"),
    ("unicode_symbols", "3\u00bc", "3 \\frac{1}{4}"),
    ("unicode_symbols", "1\u20442", "1/2"),
    ("phantom", "\\phantom{7}", ""),
    ("phantom", "\\hphantom{1}5", "5"),
    ("phantom", "\\vphantom{\\frac{1}{2}} x", " x"),
    ("phantom", "\\phantom{\\phantom{7}}", ""),
    ("phantom", "\\phantom{7", ""),
    ("phantom", "\\phantomx", "\\phantomx"),
    ("phantom", "7", "7"),
    ("color_commands", "\\color{red}{7}", "{7}"),
    ("color_commands", "\\textcolor{white}{7}", "{7}"),
    ("color_commands", "\\color{blue} 7", " 7"),
    ("color_commands", "\\colorbox", "\\colorbox"),
    ("markdown_emphasis", "**18**", "18"),
    ("markdown_emphasis", "`18`", "18"),
    ("markdown_emphasis", "*x*", "x"),
    ("markdown_emphasis", "2*3", "2*3"),
    ("currency", "\\$5", "5"),
    ("currency", "\u20ac12", "12"),
    ("currency", "$5$", "$5$"),
    ("math_delimiters", "$x$", " x "),
    ("math_delimiters", "\\(x\\)", " x "),
    ("math_delimiters", "\\[x\\]", " x "),
    ("math_delimiters", "x", "x"),
    ("boxed_wrapper", "\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("boxed_wrapper", "\\boxed{1} + \\boxed{2}", "\\boxed{1} + \\boxed{2}"),
    ("latex_spacing", "1\\,000", "1 000"),
    ("latex_spacing", "\\!x\\!", "x"),
    ("latex_spacing", "10,\\!000", "10,000"),
    ("latex_spacing", "a\\quad b", "a  b"),
    ("latex_spacing", "\\displaystyle x", "  x"),
    ("latex_spacing", "1 \\\\ 2", "1 \\\\ 2"),
    ("left_right", "\\left( x \\right)", "( x )"),
    ("left_right", "\\left. x \\right|", " x |"),
    ("left_right", "\\bigl[ x \\bigr]", "[ x ]"),
    ("left_right", "\\leftarrow", "\\leftarrow"),
    ("frac_variants", "\\dfrac{1}{2}", "\\frac{1}{2}"),
    ("frac_variants", "\\tfrac12", "\\frac12"),
    ("frac_variants", "\\frac{1}{2}", "\\frac{1}{2}"),
    ("command_aliases", "x \\leq 3", "x \\le  3"),
    ("command_aliases", "x >= 3", "x \\ge  3"),
    ("command_aliases", "\\mathbf{7}", "{7}"),
    ("command_aliases", "\\varnothing", "\\emptyset "),
    ("command_aliases", "\\lbrace 1 \\rbrace", "\\{ 1 \\}"),
    ("command_aliases", "x \\le 3", "x \\le 3"),
    ("command_aliases", "(-inf, 2]", "(-\\infty , 2]"),
    ("command_aliases", "infinity", "\\infty "),
    ("command_aliases", "\\infinity", "\\infty "),
    ("command_aliases", "infinite", "infinite"),
    ("degrees", "30^\\circ", "30 "),
    ("degrees", "30^{\\circ}", "30 "),
    ("degrees", "30", "30"),
    ("trig_degrees", "\\cos 60^\\circ", "\\cos (60\\cdot\\frac{\\pi}{180})"),
    ("trig_degrees", "\\tan 45^{\\circ}", "\\tan (45\\cdot\\frac{\\pi}{180})"),
    ("trig_degrees", "\\sin(30^\\circ)", "\\sin((30\\cdot\\frac{\\pi}{180}))"),
    ("trig_degrees", "\\sin^2 30^\\circ", "\\sin^2 (30\\cdot\\frac{\\pi}{180})"),
    ("trig_degrees", "\\sin(\\cos 60^\\circ)", "\\sin(\\cos (60\\cdot\\frac{\\pi}{180}))"),
    ("trig_degrees", "\\cos 60", "\\cos 60"),
    ("trig_degrees", "30^\\circ", "30^\\circ"),
    ("trig_degrees", "\\arccos 60^\\circ", "\\arccos 60^\\circ"),
    ("trig_degrees", "\\cos(60^\\circ", "\\cos(60^\\circ"),
    ("percent", "25\\%", "25%"),
    ("percent", "25 percent", "25%"),
    ("percent", "25", "25"),
    ("thousands_braces", "10{,}000", "10000"),
    ("thousands_braces", "(1{,}2)", "(1{,}2)"),
    ("thousands_braces", "14 {, }916", "14916"),
    ("base_ten_subscript", "11_{10}", "11"),
    ("base_ten_subscript", "1011_2", "1011_2"),
    ("base_ten_subscript", "1011_{2}", "1011_2"),
    ("base_ten_subscript", "A3_{16}", "A3_16"),
    ("base_ten_subscript", "x_{10}", "x_{10}"),
    ("units", "10\\text{ cm}", "10"),
    ("units", "10 \\text{ cm}^2", "10"),
    ("units", "12 square units", "12"),
    ("units", "50 miles per hour", "50"),
    ("units", "15\\text{ m}", "15"),
    ("units", "48 eggs", "48"),
    ("units", "9 \\text{ sides}", "9"),
    ("units", "15m", "15m"),
    ("units", "16\\pi\\text{ cm}^2", "16\\pi"),
    ("units", "\\text{ cm}", "\\text{ cm}"),
    ("units", "3 or 4", "3 or 4"),
    ("units", "5 \\text{ and } 6", "5 \\text{ and } 6"),
    ("units", "2 sin", "2 sin"),
    ("units", "2 times x", "2 times x"),
    ("units", "3/4 of the cake", "3/4"),
    ("units", "3 out of 4", "3 out of 4"),
    ("units", "18 (dollars)", "18"),
    ("units", "42 (rounded)", "42"),
    ("units", "2 (C)", "2 (C)"),
    ("units", "\\text{Tuesday}", "\\text{Tuesday}"),
    ("units", "5 \\text{ below zero}", "5 \\text{ below zero}"),
    ("units", "5\\text{ ft short}", "5\\text{ ft short}"),
    ("units", "5 \\text{ fewer}", "5 \\text{ fewer}"),
    ("units", "5\\text{ loss}", "5\\text{ loss}"),
    ("units", "5 degrees below zero", "5 degrees below zero"),
    ("units", "5 more than x", "5 more than x"),
    ("units", "5 (approximately)", "5 (approximately)"),
    ("units", "5 \\text{ degrees}", "5"),
    ("text_wrappers", "\\text{(C)}", " (C) "),
    ("text_wrappers", "\\text{\\text{a}}", "  a  "),
    ("text_wrappers", "x", "x"),
    ("latex_shorthand", "\\frac12", "\\frac{1}{2}"),
    ("latex_shorthand", "\\frac1{x}", "\\frac{1}{x}"),
    ("latex_shorthand", "\\frac{x}2", "\\frac{x}{2}"),
    ("latex_shorthand", "\\sqrt2", "\\sqrt{2}"),
    ("latex_shorthand", "\\sqrt{2}", "\\sqrt{2}"),
    ("edge_punctuation", "5.", "5"),
    ("edge_punctuation", ": 5", "5"),
    ("edge_punctuation", "5!", "5!"),
    ("edge_punctuation", "5.5", "5.5"),
    ("edge_punctuation", "3?", "3?"),
    ("edge_punctuation", "3 ?.", "3?"),
    ("ratio_colon", "3 : 1", "3:1"),
    ("ratio_colon", "x : y", "x : y"),
    ("thousands_spaces", "1 000", "1000"),
    ("thousands_spaces", "12 345 678", "12345678"),
    ("thousands_spaces", "2 3", "2 3"),
    ("thousands_spaces", "1 2345", "1 2345"),
    ("repeating_decimals", "0.\\overline{3}", "\\frac{1}{3}"),
    ("repeating_decimals", "1.2\\overline{45}", "\\frac{137}{110}"),
    ("repeating_decimals", "0.\\overline{142857}", "\\frac{1}{7}"),
    ("repeating_decimals", "\\overline{AB}", "\\overline{AB}"),
    ("whitespace", "  a   b  ", "a b"),
    ("whitespace", "a b", "a b"),
]


@pytest.mark.parametrize(("rule", "text", "expected"), EXAMPLES, ids=[f"{r}:{t}" for r, t, _ in EXAMPLES])
def test_rule(rule: str, text: str, expected: str) -> None:
    assert RULE[rule](text) == expected


def test_every_rule_is_tested_both_ways() -> None:
    changed = {r for r, t, e in EXAMPLES if t != e}
    unchanged = {r for r, t, e in EXAMPLES if t == e}
    names = set(RULE)
    assert names == changed, f"rules without an example they change: {names - changed}"
    assert names == unchanged, f"rules without an example they must leave alone: {names - unchanged}"


def test_rule_names_are_unique_and_documented() -> None:
    assert len(RULE) == len(RULES)
    assert all(r.doc and r.apply.__doc__ for r in RULES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$\\dfrac{1}{2}$.", "\\frac{1}{2}"),
        ("\\$1{,}200", "1200"),
        ("\\left( 1, 2 \\right]", "( 1, 2 ]"),
        ("\\text{(C)}", "(C)"),
        ("30^\\circ", "30"),
        ("\u2212\uff13", "-3"),
        ("25\\%", "25%"),
    ],
)
def test_whole_pipeline(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_rules_are_idempotent_on_their_output() -> None:
    for _, text, _ in EXAMPLES:
        once = normalize(text)
        assert normalize(once) == once, text


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("10\\text{ cm}", "cm"),
        ("10\\text{ centimeters}", "cm"),
        ("10 \\text{ m}", "m"),
        ("12 sq ft", "ft^2"),
        ("12 \\text{ ft}^2", "ft^2"),
        ("12 square feet", "ft^2"),
        ("50 miles per hour", "mi/h"),
        ("5 hrs", "h"),
        ("10 m", None),  # "m" outside \text{} may be a variable
        ("48 eggs", None),  # a count noun is a label, not a unit
        ("12 square units", None),
        ("30^\\circ", "degree"),
        ("30\u00b0", "degree"),
        ("30 degrees", "degree"),
        ("\\$5", "dollar"),
        ("5 dollars", "dollar"),
        ("\u20ac5", "euro"),
        ("5 cents", "cent"),
        ("10 mph", "mi/h"),
        ("10\\text{ centimetre}", "cm"),
        ("2 hr", "h"),
        ("2 hours", "h"),
        ("5 kilograms", "kg"),
        ("10", None),
        ("$5$", None),
    ],
)
def test_unit_of(text: str, unit: str | None) -> None:
    assert unit_of(text) == unit
