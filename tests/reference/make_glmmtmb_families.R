## Reference fits for tests/test_glmmtmb_families.py: glmmTMB with the families of merx's
## Laplace engine (nbinom1, zero-inflated nbinom2, Gamma, beta on a transformed response,
## gaussian with a dispersion model, binomial with trials), on the bundled data with the
## factor levels of tests/data/*.levels.json. Run from the repository root:
##   Rscript tests/reference/make_glmmtmb_families.R
## Writes tests/reference/glmmtmb_families.json and
## tests/reference/printed/glmmtmb_{zip,nb2,gaussian_disp}_summary.txt.
suppressMessages({ library(glmmTMB); library(jsonlite) })
read_levels <- function(name) {
  d <- read.csv(gzfile(sprintf("tests/data/%s.csv.gz", name)), stringsAsFactors = FALSE)
  lv <- fromJSON(sprintf("tests/data/%s.levels.json", name))
  for (v in names(lv)) d[[v]] <- factor(as.character(d[[v]]), levels = lv[[v]])
  d
}
sal <- read_levels("Salamanders")
cbpp <- read_levels("cbpp")
fam <- read.csv("tests/data/glmer_families.csv", stringsAsFactors = TRUE)
fam$y_beta <- fam$y_gamma / (1 + fam$y_gamma)

models <- list(
  list(id = "nbinom1", data = "Salamanders", formula = "count ~ spp + mined + (1 | site)", family = "nbinom1"),
  list(id = "zinb2", data = "Salamanders", formula = "count ~ spp + mined + (1 | site)", family = "nbinom2",
       ziformula = "~ mined"),
  list(id = "gamma_log", data = "glmer_families", formula = "y_gamma ~ x + trt + (1 | g)", family = "Gamma",
       link = "log"),
  list(id = "beta", data = "glmer_families", formula = "y_beta ~ x + trt + (1 | g)", family = "beta_family"),
  list(id = "gaussian_disp", data = "glmer_families", formula = "y_gauss ~ x + trt + (1 | g)", family = "gaussian",
       dispformula = "~ trt"),
  list(id = "binomial_trials", data = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
       family = "binomial")
)
data_of <- list(Salamanders = sal, cbpp = cbpp, glmer_families = fam)

family_of <- function(s) {
  f <- get(s$family)
  if (is.null(s$link)) f() else f(link = s$link)
}

out <- list(kind = "glmmtmb_families", generated_by = "tests/reference/make_glmmtmb_families.R",
            versions = list(R = R.version.string, glmmTMB = as.character(packageVersion("glmmTMB")),
                            TMB = as.character(packageVersion("TMB"))),
            note = "y_beta = y_gamma / (1 + y_gamma) of glmer_families.csv", models = list())
for (s in models) {
  d <- data_of[[s$data]]
  zi <- if (is.null(s$ziformula)) ~0 else as.formula(s$ziformula)
  dp <- if (is.null(s$dispformula)) ~1 else as.formula(s$dispformula)
  m <- glmmTMB(as.formula(s$formula), data = d, family = family_of(s), ziformula = zi, dispformula = dp)
  fe <- fixef(m)
  V <- vcov(m, full = TRUE)
  se <- sqrt(diag(V))
  comps <- list()
  for (cmp in c("cond", "zi", "disp")) {
    if (length(fe[[cmp]]) > 0) comps[[cmp]] <- list(names = I(names(fe[[cmp]])), fixef = unname(fe[[cmp]]))
  }
  npar <- length(unlist(fe))
  vc <- VarCorr(m)$cond
  out$models[[s$id]] <- c(s, list(
    fixef = comps,
    se = unname(se[seq_len(npar)]), se_names = I(names(se)[seq_len(npar)]),
    sigma = sigma(m), logLik = as.numeric(logLik(m)), logLik_df = attr(logLik(m), "df"),
    AIC = AIC(m), BIC = BIC(m), df_residual = df.residual(m), nobs = nobs(m),
    varcorr_sd = unname(sapply(vc, function(v) attr(v, "stddev"))),
    pdHess = m$sdr$pdHess,
    fitted_first5 = unname(fitted(m)[1:5]),
    pearson_first5 = unname(residuals(m, type = "pearson")[1:5]),
    predict_link_first5 = unname(predict(m, type = "link")[1:5]),
    predict_response_NA_first5 = unname(predict(m, type = "response", re.form = NA)[1:5])
  ))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/glmmtmb_families.json")

printed <- list(
  zip = glmmTMB(count ~ spp + mined + (1 | site), data = sal, family = poisson, ziformula = ~spp + mined),
  nb2 = glmmTMB(count ~ spp + mined + (1 | site), data = sal, family = nbinom2),
  gaussian_disp = glmmTMB(y_gauss ~ x + trt + (1 | g), data = fam, family = gaussian, dispformula = ~trt)
)
for (id in names(printed)) {
  txt <- capture.output(print(summary(printed[[id]])))
  writeLines(txt, sprintf("tests/reference/printed/glmmtmb_%s_summary.txt", id))
}

## The linear mixed model (gaussian, no dispersion model) by ML and REML.
lmm <- list()
for (reml in c(FALSE, TRUE)) {
  m <- glmmTMB(y_gauss ~ x + trt + (1 | g), data = fam, family = gaussian, REML = reml)
  vc <- VarCorr(m)$cond$g
  lmm[[if (reml) "reml" else "ml"]] <- list(
    formula = "y_gauss ~ x + trt + (1 | g)", REML = reml,
    fixef = unname(fixef(m)$cond), se = unname(sqrt(diag(vcov(m)$cond))), sigma = sigma(m),
    sd = unname(attr(vc, "stddev")),
    logLik = as.numeric(logLik(m)), logLik_df = attr(logLik(m), "df"), AIC = AIC(m), df_residual = df.residual(m),
    se_disp = if (reml) NULL else unname(sqrt(vcov(m, full = TRUE)["d~(Intercept)", "d~(Intercept)"])))
}
writeLines(toJSON(list(kind = "glmmtmb_lmm", generated_by = "tests/reference/make_glmmtmb_families.R",
                       data = "tests/data/glmer_families.csv", fits = lmm), auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/glmmtmb_lmm.json")
