"""Simulates tests/data/glmer_families.csv (run from the repository root; numpy's PCG64 with a
fixed seed): 30 groups of 10 rows, a Gamma response with the log link (y_gamma), an inverse
Gaussian one with the log link (y_ig) and a Gaussian one with the log link (y_gauss), each
with a random intercept per group g. The reference fits are tests/reference/make_glmer_families.R."""
import numpy as np, pandas as pd
rng = np.random.default_rng(20240607)
ng, per = 30, 10
g = np.repeat([f"g{i:02d}" for i in range(1, ng + 1)], per)
n = ng * per
x = np.round(rng.uniform(-1, 1, n), 4)
trt = np.where(rng.uniform(size=n) < 0.5, "a", "b")
gi = np.repeat(np.arange(ng), per)
b1 = rng.normal(0, 0.4, ng)[gi]
b2 = rng.normal(0, 0.3, ng)[gi]
b3 = rng.normal(0, 0.25, ng)[gi]
mu_g = np.exp(0.5 + 0.3 * x + 0.2 * (trt == "b") + b1)
y_gamma = rng.gamma(4.0, mu_g / 4.0)
mu_ig = np.exp(0.2 + 0.4 * x + b2)
y_ig = rng.wald(mu_ig, 5.0)
mu_n = np.exp(1.5 + 0.4 * x - 0.3 * (trt == "b") + b3)
y_gauss = mu_n + rng.normal(0, 0.5, n)
d = pd.DataFrame(dict(g=g, x=x, trt=trt, y_gamma=np.round(y_gamma, 5), y_ig=np.round(y_ig, 5), y_gauss=np.round(y_gauss, 5)))
assert (d.y_gamma > 0).all() and (d.y_ig > 0).all() and (d.y_gauss > 0).all()
d.to_csv("tests/data/glmer_families.csv", index=False)

