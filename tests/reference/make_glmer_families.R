## Reference fits for tests/test_glmer_families.py: lme4's glmer with the families that have
## a dispersion parameter (Gamma, inverse.gaussian, gaussian with a non-identity link), on
## tests/data/glmer_families.csv (simulated once in Python with a fixed seed; the CSV is
## the data). Run from the repository root:
##   Rscript tests/reference/make_glmer_families.R
## Writes tests/reference/glmer_families.json, tests/reference/glmer_binomial_prior_weights.json and
## tests/reference/printed/glmer_gamma_log_{summary,print}.txt.
suppressMessages({ library(lme4); library(jsonlite) })
d <- read.csv("tests/data/glmer_families.csv", stringsAsFactors = TRUE)

models <- list(
  list(id = "gamma_log", formula = "y_gamma ~ x + trt + (1 | g)", family = "Gamma", link = "log"),
  list(id = "gamma_inverse", formula = "y_gamma ~ x + trt + (1 | g)", family = "Gamma", link = "inverse"),
  list(id = "gamma_identity", formula = "y_gamma ~ x + trt + (1 | g)", family = "Gamma", link = "identity"),
  list(id = "gamma_log_slopes", formula = "y_gamma ~ x + trt + (1 + x | g)", family = "Gamma", link = "log"),
  list(id = "inverse_gaussian_log", formula = "y_ig ~ x + (1 | g)", family = "inverse.gaussian", link = "log"),
  list(id = "gaussian_log", formula = "y_gauss ~ x + trt + (1 | g)", family = "gaussian", link = "log"),
  list(id = "gaussian_inverse", formula = "y_gauss ~ x + trt + (1 | g)", family = "gaussian", link = "inverse")
)

fam_of <- function(s) get(s$family)(link = s$link)

summarise <- function(m) {
  re <- ranef(m, condVar = TRUE)
  ranefs <- lapply(names(re), function(g) {
    r <- re[[g]]; pv <- attr(r, "postVar")
    sd <- t(sapply(seq_len(nrow(r)), function(i) sqrt(diag(as.matrix(pv[, , i])))))
    if (ncol(r) == 1) sd <- t(sd)
    list(columns = I(colnames(r)), levels = I(rownames(r)), values = unname(as.matrix(r)), condsd = unname(sd))
  })
  names(ranefs) <- names(re)
  vc <- as.data.frame(VarCorr(m))
  cmp <- getME(m, "devcomp")$cmp
  list(
    theta = as.list(getME(m, "theta")), fixef = as.list(fixef(m)),
    se = as.list(sqrt(diag(as.matrix(vcov(m))))), vcov = unname(as.matrix(vcov(m))),
    se_from_rx = as.list(sqrt(diag(as.matrix(suppressWarnings(vcov(m, use.hessian = FALSE)))))),
    logLik = as.numeric(logLik(m)), logLik_df = attr(logLik(m), "df"),
    AIC = AIC(m), BIC = BIC(m), deviance = deviance(m), df_residual = df.residual(m), nobs = nobs(m),
    sigma = sigma(m), varcorr_sdcor = vc$sdcor, varcorr_vcov = vc$vcov,
    devcomp = as.list(cmp[c("ldL2", "ldRX2", "wrss", "ussq", "pwrss", "drsum", "dev", "sigmaML")]),
    fitted = unname(fitted(m)), eta = unname(predict(m, type = "link")),
    residuals_pearson_scaled_first5 = unname(residuals(m, "pearson", scaled = TRUE)[1:5]),
    ranef = ranefs, feval = m@optinfo$feval,
    messages = m@optinfo$conv$lme4$messages
  )
}

out <- list(kind = "glmer_families", dataset = "glmer_families",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
            generated_by = "tests/reference/make_glmer_families.R",
            note = paste("default: lme4's default glmer fit; tight: the same with",
                         "glmerControl(tolPwrss = 1e-12), whose PIRLS evaluates the Laplace",
                         "deviance at the converged modes (merx's objective)"),
            models = list())
for (s in models) {
  m <- glmer(as.formula(s$formula), data = d, family = fam_of(s))
  mt <- glmer(as.formula(s$formula), data = d, family = fam_of(s), control = glmerControl(tolPwrss = 1e-12))
  out$models[[s$id]] <- c(s, list(default = summarise(m),
                                   tight = list(theta = as.list(getME(mt, "theta")), fixef = as.list(fixef(mt)),
                                                se = as.list(sqrt(diag(as.matrix(vcov(mt))))),
                                                logLik = as.numeric(logLik(mt)), sigma = sigma(mt),
                                                ranef = summarise(mt)$ranef)))
  if (s$id == "gamma_log") {
    writeLines(capture.output(print(summary(m))), "tests/reference/printed/glmer_gamma_log_summary.txt")
    writeLines(capture.output(print(m)), "tests/reference/printed/glmer_gamma_log_print.txt")
  }
}
## The inverse Gaussian's default link 1/mu^2 fails in lme4 on these data (PIRLS: NaN).
out$inverse_gaussian_default_link <- tryCatch({
  glmer(y_ig ~ x + (1 | g), data = d, family = inverse.gaussian()); "fitted"
}, error = function(e) conditionMessage(e))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), "tests/reference/glmer_families.json")

## Prior weights on a cbind(s, f) response (lme4's cbpp, the rows of tests/data/cbpp.csv.gz):
## the weights are the trials times the prior weights, and the log-likelihood weighs each
## row's binomial probability by its prior weight (R's binomial()$aic).
data(cbpp, package = "lme4")
cb <- cbpp
cb$pw <- 1 + (seq_len(nrow(cb)) %% 3) * 0.5
bw <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cb, family = binomial, weights = pw)
bwt <- update(bw, control = glmerControl(tolPwrss = 1e-12))
bi <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cb, family = binomial,
            weights = round(2 * pw))
out2 <- list(
  kind = "glmer_binomial_prior_weights", generated_by = "tests/reference/make_glmer_families.R",
  formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
  weights = "1 + (row %% 3) * 0.5 (row = 1, ..., 56)",
  default = list(theta = as.list(getME(bw, "theta")), fixef = as.list(fixef(bw)), se = as.list(sqrt(diag(as.matrix(vcov(bw))))),
                 logLik = as.numeric(logLik(bw)), logLik_df = attr(logLik(bw), "df"), deviance = deviance(bw)),
  tight = list(theta = as.list(getME(bwt, "theta")), fixef = as.list(fixef(bwt)), logLik = as.numeric(logLik(bwt))),
  integer_weights = list(weights = "round(2 * (1 + (row %% 3) * 0.5))", theta = as.list(getME(bi, "theta")),
                         fixef = as.list(fixef(bi)), se = as.list(sqrt(diag(as.matrix(vcov(bi))))), logLik = as.numeric(logLik(bi)))
)
writeLines(toJSON(out2, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/glmer_binomial_prior_weights.json")
