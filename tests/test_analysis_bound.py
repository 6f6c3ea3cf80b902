"""Theorem 6 and Lemmas 3-5 against hand-computed values, their composition, and sensitivity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analysis.bound import (
    BoundConstants,
    bound_elasticities,
    bound_gradients,
    compose_substitution,
    compose_triangle,
    lemma3,
    lemma4,
    lemma5,
    theorem6,
    theorem6_gap,
    theorem6_terms,
)

# eps_t=0.1, eps_s=0.2, eps_pi=0.05, C_T=2, C_pi=3, R=1, gamma=0.9: (1-g)^2 = 0.01, 1-g = 0.1
C = BoundConstants(eps_t=0.1, eps_s=0.2, eps_pi=0.05, c_t=2.0, c_pi=3.0, r_max=1.0, gamma=0.9)


def test_hand_computed_values():
    assert float(lemma3(0.1, 0.2, 2.0)) == pytest.approx(0.5)
    assert float(lemma4(0.05, 0.2, 3.0)) == pytest.approx(0.35)
    # 2*0.9*(0.35+0.5)/0.01 + 2*0.35/0.1 = 153 + 7
    assert float(lemma5(0.35, 0.5, 1.0, 0.9)) == pytest.approx(160.0)
    # 0.9*(4*0.05 + 2*0.1 + (3+4)*0.2)/0.01 + 2*(2*0.05 + 3*0.2)/0.1 = 162 + 14
    assert float(theorem6(C)) == pytest.approx(176.0)
    # R scales the bound linearly; gamma = 0 leaves only the 1/(1-gamma) term: 2*(0.1+0.6) = 1.4
    assert float(theorem6(C._replace(r_max=2.5))) == pytest.approx(440.0)
    assert float(theorem6(C._replace(gamma=0.0))) == pytest.approx(1.4)


def test_terms_split_the_bound_by_error_source():
    terms = theorem6_terms(C)
    # eps_t: 0.9*0.2/0.01 = 18; eps_s: 0.9*1.4/0.01 + 2*0.6/0.1 = 138; eps_pi: 0.9*0.2/0.01 + 2*0.1/0.1 = 20
    assert float(terms["eps_t"]) == pytest.approx(18.0)
    assert float(terms["eps_s"]) == pytest.approx(138.0)
    assert float(terms["eps_pi"]) == pytest.approx(20.0)
    assert float(sum(terms.values())) == pytest.approx(float(theorem6(C)))


def test_composition_of_lemmas():
    # direct substitution of Lemmas 3-4 into Lemma 5
    subst = lemma5(lemma4(C.eps_pi, C.eps_s, C.c_pi), lemma3(C.eps_t, C.eps_s, C.c_t), C.r_max, C.gamma)
    assert float(compose_substitution(C)) == pytest.approx(float(subst))
    assert float(compose_substitution(C)) == pytest.approx(160.0)
    # Theorem 6 = substitution + gap, gap = 2*0.9*0.05/0.01 + (0.1 + 0.6)/0.1 = 9 + 7
    assert float(theorem6_gap(C)) == pytest.approx(16.0)
    assert float(theorem6(C)) == pytest.approx(float(compose_substitution(C) + theorem6_gap(C)))
    # the triangle composition is above Theorem 6 by R gamma C_pi eps_S/(1-g)^2 = 54
    assert float(compose_triangle(C)) == pytest.approx(230.0)


def test_composition_sandwich_on_random_constants():
    rng = np.random.default_rng(0)
    for _ in range(200):
        c = BoundConstants(
            eps_t=rng.uniform(0, 1),
            eps_s=rng.uniform(0, 3),
            eps_pi=rng.uniform(0, 1),
            c_t=rng.uniform(0, 5),
            c_pi=rng.uniform(0, 5),
            r_max=rng.uniform(0.1, 10),
            gamma=rng.uniform(0, 0.99),
        )
        sub, thm, tri = float(compose_substitution(c)), float(theorem6(c)), float(compose_triangle(c))
        assert sub <= thm * (1 + 1e-6) and thm <= tri * (1 + 1e-6)
        assert thm - sub == pytest.approx(float(theorem6_gap(c)), rel=1e-4, abs=1e-6)
    # with only a dynamics error the three coincide: 2 R gamma eps_T / (1-gamma)^2
    only_t = BoundConstants(0.3, 0.0, 0.0, 2.0, 3.0, 1.0, 0.5)
    for f in (compose_substitution, theorem6, compose_triangle):
        assert float(f(only_t)) == pytest.approx(2 * 0.5 * 0.3 / 0.25)


def test_gradients_match_hand_derivatives():
    g = bound_gradients(C)
    assert g["eps_t"] == pytest.approx(180.0)  # 2 R g/(1-g)^2
    assert g["eps_pi"] == pytest.approx(400.0, rel=1e-5)  # 4 R g/(1-g)^2 + 4 R/(1-g)
    assert g["eps_s"] == pytest.approx(690.0, rel=1e-5)  # R g (C_pi + 2 C_T)/(1-g)^2 + 2 R C_pi/(1-g)
    assert g["c_t"] == pytest.approx(36.0, rel=1e-5)  # 2 R g eps_s/(1-g)^2
    assert g["c_pi"] == pytest.approx(22.0, rel=1e-5)  # R g eps_s/(1-g)^2 + 2 R eps_s/(1-g)
    assert g["r_max"] == pytest.approx(176.0, rel=1e-5)
    # d/dg: 1.8 * (1/(1-g)^2 + 2g/(1-g)^3) + 1.4/(1-g)^2 = 3420 + 140
    assert g["gamma"] == pytest.approx(3560.0, rel=1e-4)


def test_elasticities():
    e = bound_elasticities(C)
    # the bound is homogeneous of degree 1 in the three errors together, and in R
    assert e["eps_t"] + e["eps_s"] + e["eps_pi"] == pytest.approx(1.0, rel=1e-5)
    assert e["r_max"] == pytest.approx(1.0, rel=1e-5)
    assert e["eps_t"] == pytest.approx(18.0 / 176.0, rel=1e-5)
    assert e["c_t"] == pytest.approx(36.0 * 2.0 / 176.0, rel=1e-5)


def test_functions_work_under_jit_and_vmap():
    f = jax.jit(lambda c: theorem6(c))
    assert float(f(C)) == pytest.approx(176.0)
    batched = C._replace(eps_t=jnp.array([0.1, 0.2]))
    np.testing.assert_allclose(np.asarray(theorem6(batched)), [176.0, 194.0], rtol=1e-5)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("gamma", 1.0, r"gamma=1.0: must be in \[0, 1\)"),
        ("gamma", -0.1, "gamma"),
        ("eps_t", -0.1, "eps_t=-0.1"),
        ("eps_t", 1.5, "eps_t=1.5"),
        ("eps_pi", float("nan"), "eps_pi"),
        ("eps_s", -1.0, "eps_s=-1.0"),
        ("c_t", -2.0, "c_t=-2.0"),
        ("c_pi", -2.0, "c_pi"),
        ("r_max", -1.0, "r_max"),
    ],
)
def test_invalid_constants_raise(field, value, match):
    with pytest.raises(ValueError, match=match):
        theorem6(C._replace(**{field: value}))


def test_lemma_inputs_validated():
    with pytest.raises(ValueError, match="c_t"):
        lemma3(0.1, 0.1, -1.0)
    with pytest.raises(ValueError, match="gamma"):
        lemma5(0.1, 0.1, 1.0, 1.0)
