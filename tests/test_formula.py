"""Tests of merx.formula: lme4 formula parsing, bar-term expansion, R terms
algebra, deparsing and error messages."""

import pytest

from merx.errors import FormulaError, MerxError
from merx.formula.expression import deparse
from merx.formula.grammar import parse_expression
from merx.formula.model_formula import ParsedFormula, parse_formula
from merx.formula.random_terms import RandomTerm
from merx.formula.terms import expand_terms
from merx.rstyle.numbers import r_format_number


def terms(f):
    return [(t.lhs, t.group) for t in parse_formula(f).random]


# ---------------------------------------------------------------------------
# basic split
# ---------------------------------------------------------------------------


def test_sleepstudy_formula():
    p = parse_formula("Reaction ~ Days + (Days | Subject)")
    assert isinstance(p, ParsedFormula)
    assert p.formula == "Reaction ~ Days + (Days | Subject)"
    assert p.response == "Reaction"
    assert p.fixed == "Days"
    assert p.offset_terms == []
    assert len(p.random) == 1
    rt = p.random[0]
    assert isinstance(rt, RandomTerm)
    assert (rt.lhs, rt.group, rt.correlated) == ("Days", "Subject", True)
    assert rt.term == "Days | Subject"
    assert p.fixed_formula == "Reaction ~ Days"


def test_whitespace_is_irrelevant_and_output_is_deparsed():
    p = parse_formula("Reaction~Days+(Days|Subject)")
    assert p.fixed == "Days"
    assert terms("Reaction~Days+(1+Days|Subject)") == [("1 + Days", "Subject")]


def test_only_bar_terms_gives_intercept_fixed_part():
    assert parse_formula("y ~ (1 | g)").fixed == "1"
    assert parse_formula("y ~ 1 + (1 | g)").fixed == "1"
    p = parse_formula("y ~ 0 + (1 | g)")
    assert p.fixed == "0"
    assert p.fixed_terms().intercept is False


def test_intercept_removal_forms_kept():
    assert parse_formula("y ~ x - 1 + (1 | g)").fixed == "x - 1"
    assert parse_formula("y ~ -1 + x + (1 | g)").fixed == "-1 + x"
    assert parse_formula("y ~ 0 + x + (1 | g)").fixed == "0 + x"
    for f in ("y ~ x - 1 + (1|g)", "y ~ -1 + x + (1|g)", "y ~ 0 + x + (1|g)"):
        ti = parse_formula(f).fixed_terms()
        assert ti.intercept is False
        assert ti.term_labels == ["x"]


def test_bar_terms_anywhere_in_the_sum():
    p = parse_formula("y ~ (1 | g) + x + (0 + x | g) + z")
    assert p.fixed == "x + z"
    assert terms("y ~ (1 | g) + x + (0 + x | g) + z") == [("1", "g"), ("0 + x", "g")]


def test_parenthesised_group_of_bar_terms():
    assert terms("y ~ x + ((1 | g) + (1 | h))") == [("1", "g"), ("1", "h")]
    assert terms("y ~ x + ((1 | g))") == [("1", "g")]


# ---------------------------------------------------------------------------
# random-term forms
# ---------------------------------------------------------------------------


def test_implicit_intercept_slope():
    # (x | g) is (1 + x | g): the lhs keeps the intercept
    rt = parse_formula("y ~ x + (x | g)").random[0]
    ti = rt.lhs_terms()
    assert ti.intercept is True and ti.term_labels == ["x"]
    rt2 = parse_formula("y ~ x + (1 + x | g)").random[0]
    ti2 = rt2.lhs_terms()
    assert ti2.intercept is True and ti2.term_labels == ["x"]


@pytest.mark.parametrize("lhs", ["0 + x", "-1 + x", "x - 1", "x + 0"])
def test_no_intercept_slopes(lhs):
    rt = parse_formula(f"y ~ x + ({lhs} | g)").random[0]
    ti = rt.lhs_terms()
    assert ti.intercept is False
    assert ti.term_labels == ["x"]


def test_double_bar_expansion():
    assert terms("Reaction ~ Days + (Days || Subject)") == [("1", "Subject"), ("0 + Days", "Subject")]


def test_double_bar_expands_every_term_label():
    # lme4 expandDoubleVerts: one term per term label of ~ x*z
    assert terms("y ~ x*z + (x*z || g)") == [
        ("1", "g"), ("0 + x", "g"), ("0 + z", "g"), ("0 + x:z", "g")
    ]


def test_double_bar_without_intercept():
    assert terms("y ~ x + (0 + x + z || g)") == [("0 + x", "g"), ("0 + z", "g")]


def test_double_bar_with_factor_keeps_factor_as_one_term():
    # lme4 1.1-31: (f || g) -> (1 | g) + (0 + f | g); the factor stays one block
    assert terms("y ~ f + (f || g)") == [("1", "g"), ("0 + f", "g")]
    assert all(rt.correlated for rt in parse_formula("y ~ f + (f || g)").random)


def test_double_bar_source_recorded():
    p = parse_formula("y ~ x + (x || g)")
    assert {rt.source for rt in p.random} == {"(x || g)"}
    assert p.bar_terms == ["(x || g)"]


def test_slash_nesting_lme4_names():
    # lme4 expandSlash: (1 | hospital/ward) -> (1 | ward:hospital) + (1 | hospital)
    assert terms("y ~ 1 + (1 | hospital/ward)") == [("1", "ward:hospital"), ("1", "hospital")]
    assert terms("strength ~ 1 + (1 | batch/cask)") == [("1", "cask:batch"), ("1", "batch")]


def test_three_level_slash():
    assert terms("y ~ 1 + (1 | a/b/c)") == [("1", "c:(b:a)"), ("1", "b:a"), ("1", "a")]
    rt = parse_formula("y ~ 1 + (1 | a/b/c)").random[0]
    assert [deparse(c) for c in rt.group_components] == ["c", "b", "a"]


def test_slash_with_slope():
    assert terms("y ~ x + (x | a/b)") == [("x", "b:a"), ("x", "a")]


def test_double_bar_and_slash_combined():
    # expandDoubleVerts first, then expandSlash on each resulting term
    assert terms("y ~ x + (x || a/b)") == [
        ("1", "b:a"), ("1", "a"), ("0 + x", "b:a"), ("0 + x", "a")
    ]


def test_interaction_grouping_factor():
    p = parse_formula("y ~ 1 + (1 | a:b)")
    assert terms("y ~ 1 + (1 | a:b)") == [("1", "a:b")]
    assert [deparse(c) for c in p.random[0].group_components] == ["a", "b"]


def test_several_terms_on_one_factor():
    assert terms("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)") == [
        ("1", "Subject"), ("0 + Days", "Subject")
    ]


def test_factor_valued_slopes():
    assert terms("score ~ Machine + (0 + Machine | Worker)") == [("0 + Machine", "Worker")]
    assert terms("score ~ Machine + (Machine | Worker)") == [("Machine", "Worker")]


def test_crossed_terms():
    assert terms("y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)") == [
        ("1", "s"), ("1", "d"), ("1", "dept:service")
    ]


# ---------------------------------------------------------------------------
# responses and offsets
# ---------------------------------------------------------------------------


def test_expression_response():
    p = parse_formula("log(y) ~ x + (1 | g)")
    assert p.response == "log(y)"
    assert not p.response_is_cbind


def test_cbind_response_parses():
    p = parse_formula("cbind(successes, failures) ~ period + (1 | herd)")
    assert p.response == "cbind(successes, failures)"
    assert p.response_is_cbind
    p2 = parse_formula("cbind(incidence, size - incidence) ~ period + (1 | herd)")
    assert p2.response == "cbind(incidence, size - incidence)"


def test_offset_terms():
    p = parse_formula("y ~ x + offset(log(n)) + (1 | g)")
    assert p.fixed == "x + offset(log(n))"
    assert p.offset_terms == ["log(n)"]
    ti = p.fixed_terms()
    assert ti.term_labels == ["x"]
    assert [deparse(o) for o in ti.offsets] == ["log(n)"]


def test_expression_terms_are_deparsed_like_r():
    p = parse_formula("y ~ I(x^2) + log(x+1) + I(x/2) + I(x**3) + (1|g)")
    assert p.fixed_terms().term_labels == ["I(x^2)", "log(x + 1)", "I(x/2)", "I(x^3)"]


# ---------------------------------------------------------------------------
# R terms algebra
# ---------------------------------------------------------------------------


def labels(rhs):
    return expand_terms(parse_expression(rhs)).term_labels


def test_star_and_order_by_degree():
    assert labels("a*b") == ["a", "b", "a:b"]
    assert labels("a:b + a + b") == ["a", "b", "a:b"]
    assert labels("a*b*c") == ["a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]


def test_variables_ordered_by_first_appearance_within_terms():
    # R: y ~ b:a + a  ->  term labels "a", "b:a" (b appears first)
    assert labels("b:a + a") == ["a", "b:a"]
    assert labels("a + b:a") == ["a", "a:b"]


def test_power_nesting_in_minus():
    assert labels("(a + b + c)^2") == ["a", "b", "c", "a:b", "a:c", "b:c"]
    assert labels("a/b") == ["a", "a:b"]
    assert labels("(a + b)/c") == ["a", "b", "a:b:c"]
    assert labels("b %in% a") == ["b:a"]
    assert labels("a*b - a:b") == ["a", "b"]
    assert labels("a*b - a") == ["b", "a:b"]


def test_intercept_flags():
    assert expand_terms(parse_expression("x")).intercept is True
    assert expand_terms(parse_expression("0 + x")).intercept is False
    assert expand_terms(parse_expression("x - 1")).intercept is False
    assert expand_terms(parse_expression("0 + x + 1")).intercept is True


def test_duplicate_terms_merged():
    assert labels("x + x + log(x) + log( x )") == ["x", "log(x)"]


# ---------------------------------------------------------------------------
# deparse and numbers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [
        (1.0, "1"), (2, "2"), (10, "10"), (0.5, "0.5"), (0.1, "0.1"), (1 / 3, "0.333333333333333"),
        (100000, "1e+05"), (123456, "123456"), (1e-4, "1e-04"), (0.00012, "0.00012"),
        (1e15, "1e+15"), (-2.5, "-2.5"), (1234.5678, "1234.5678"), (0, "0"), (308, "308"),
    ],
)
def test_r_format_number(value, text):
    assert r_format_number(value) == text


@pytest.mark.parametrize(
    "src, out",
    [
        ("a+b", "a + b"), ("a:b", "a:b"), ("a/b", "a/b"), ("x^2", "x^2"), ("-1+x", "-1 + x"),
        ("f(x,y=2)", "f(x, y = 2)"), ("a %in% b", "a %in% b"), ("`my var`", "`my var`"),
        ("I((x-1)^2)", "I((x - 1)^2)"), ("x==\"a\"", 'x == "a"'), ("stats::poly(x, 2)", "poly(x, 2)"),
    ],
)
def test_deparse(src, out):
    assert deparse(parse_expression(src)) == out


def test_backtick_names():
    p = parse_formula("`my y` ~ `x 1` + (1 | `the group`)")
    assert p.response == "`my y`"
    assert p.random[0].group == "`the group`"


# ---------------------------------------------------------------------------
# errors: each names the problem and the fix
# ---------------------------------------------------------------------------


def test_formula_error_is_value_error():
    assert issubclass(FormulaError, MerxError) and issubclass(FormulaError, ValueError)


def test_unbalanced_open_paren():
    with pytest.raises(FormulaError, match=r"unbalanced parentheses.*not closed.*add the missing '\)'"):
        parse_formula("y ~ x + (1 | g")


def test_unbalanced_close_paren():
    with pytest.raises(FormulaError, match=r"unbalanced parentheses.*no matching '\('"):
        parse_formula("y ~ x + (1 | g))")


def test_bar_outside_parentheses():
    with pytest.raises(FormulaError, match=r"outside parentheses.*wrapped in parentheses"):
        parse_formula("y ~ x + 1 | g")
    with pytest.raises(FormulaError, match=r"outside parentheses"):
        parse_formula("y ~ x | g")


def test_no_tilde():
    with pytest.raises(FormulaError, match=r"no '~'.*response ~ predictors"):
        parse_formula("y + x + (1 | g)")


def test_no_response():
    with pytest.raises(FormulaError, match=r"no response"):
        parse_formula("~ x + (1 | g)")


def test_empty_grouping_factor():
    with pytest.raises(FormulaError, match=r"empty grouping factor.*\(1\|\).*name the grouping variable"):
        parse_formula("y ~ x + (1|)")
    with pytest.raises(FormulaError, match=r"empty grouping factor"):
        parse_formula("y ~ x + (x || )")


def test_empty_lhs():
    with pytest.raises(FormulaError, match=r"empty left-hand side.*\(\|g\).*'\(1 \| g\)'"):
        parse_formula("y ~ x + (|g)")


def test_bar_nested_inside_other_term():
    with pytest.raises(FormulaError, match=r"must be added at the top level"):
        parse_formula("y ~ x:(1 | g)")


def test_subtracted_bar_term():
    with pytest.raises(FormulaError, match=r"subtracted"):
        parse_formula("y ~ x - (1 | g)")


def test_random_term_without_effects():
    with pytest.raises(FormulaError, match=r"has no effects.*'\(1 \| g\)'"):
        parse_formula("y ~ x + (0 | g)")


def test_invalid_grouping_expression():
    with pytest.raises(FormulaError, match=r"grouping factor 'g \+ h'.*column name"):
        parse_formula("y ~ x + (1 | g + h)")


def test_dangling_operator():
    with pytest.raises(FormulaError, match=r"no right-hand operand"):
        parse_formula("y ~ x + ")


def test_numeric_term():
    with pytest.raises(FormulaError, match=r"only 0 and 1.*I\(2\)"):
        parse_formula("y ~ 2 + x + (1 | g)")


def test_dot_not_supported():
    with pytest.raises(FormulaError, match=r"'\.'.*list the predictors"):
        parse_formula("y ~ . + (1 | g)")


def test_two_tildes():
    with pytest.raises(FormulaError, match=r"more than one '~'|'~' must be the top-level"):
        parse_formula("y ~ x ~ z")


def test_not_a_string():
    with pytest.raises(FormulaError, match=r"must be a string"):
        parse_formula(None)


def test_empty_formula():
    with pytest.raises(FormulaError):
        parse_formula("")


def test_unexpected_character():
    with pytest.raises(FormulaError, match=r"unexpected character"):
        parse_formula("y ~ x + $ + (1|g)")


def test_offset_inside_random_term():
    with pytest.raises(FormulaError, match=r"offset\(\) is not allowed inside"):
        parse_formula("y ~ x + (offset(z) | g)")
