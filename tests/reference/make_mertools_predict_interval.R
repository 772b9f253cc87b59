## Reference prediction intervals for tests/test_prediction_interval.py: merTools'
## predictInterval(m, newdata, n.sims = 20000, level = 0.8, seed = ...) of
##   sleepstudy  Reaction ~ Days + (Days | Subject)   (which full / fixed / random / all,
##               include.resid.var FALSE, stat "mean"; a new Subject level in newdata),
##   sleepstudy  Reaction ~ Days + (1 | Subject)      (fix.intercept.variance, ignore.fixed.terms),
##   cbpp        cbind(incidence, size - incidence) ~ period + (1 | herd), binomial
##               (type "probability" with and without include.resid.var; a new herd),
## with the fits' inputs to the simulation (fixef, vcov, pwrss, residual df, conditional modes
## and variances of the levels used, the random-effects covariance). Run from the repository
## root (merTools 0.5.2 of Debian's r-cran-mertools; its predictInterval is the 0.6.x one
## except for caching ranef()):
##   Rscript tests/reference/make_mertools_predict_interval.R
## Writes tests/reference/mertools_predict_interval.json. The case's arguments are stored
## under merx's names (type "probability" -> "response").
suppressMessages({ library(lme4); library(merTools); library(jsonlite) })

N_SIMS <- 20000
LEVEL <- 0.8

data(sleepstudy, package = "lme4"); data(cbpp, package = "lme4")
m_slope <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
m_int <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
g_bin <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)

sleep_new <- data.frame(
  Days = c(0, 3, 9, 5, 7, 4),
  Subject = factor(c("308", "309", "335", "372", "999", "999"), levels = c(levels(sleepstudy$Subject), "999")))
cbpp_new <- data.frame(
  period = factor(c("1", "2", "3", "4", "1", "4"), levels = levels(cbpp$period)),
  herd = factor(c("1", "5", "8", "15", "99", "99"), levels = c(levels(cbpp$herd), "99")),
  incidence = 0, size = 1)

inputs <- function(m, group, used) {
  dc <- getME(m, "devcomp")
  rr <- ranef(m, condVar = TRUE)[[group]]
  pv <- attr(rr, "postVar")
  lv <- rownames(rr)
  keep <- match(intersect(used, lv), lv)
  list(
    formula = deparse1(formula(m)),
    fixef = unname(fixef(m)), fixef_names = names(fixef(m)),
    vcov = unname(as.matrix(vcov(m))),
    pwrss = dc$cmp[["pwrss"]],
    resid_df = if (dc$dims[["GLMM"]] == 0) merTools:::residDF.merMod(m) else NULL,
    re_covariance = unname(as.matrix(VarCorr(m)[[group]])),
    levels = lv[keep],
    modes = unname(as.matrix(rr)[keep, , drop = FALSE]),
    condvar = lapply(keep, function(k) unname(as.matrix(pv[, , k]))))
}

run <- function(id, model, newdata_name, args, r_args) {
  m <- get(model)
  nd <- get(newdata_name)
  warns <- character()
  pi <- withCallingHandlers(
    do.call(predictInterval, c(list(merMod = m, newdata = nd, n.sims = N_SIMS, level = LEVEL, seed = r_args$seed),
                               r_args[setdiff(names(r_args), "seed")])),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) invokeRestart("muffleMessage"))
  out <- list(id = id, model = model, newdata = newdata_name, args = args, r_call = deparse1(r_args),
              fit = pi$fit, lwr = pi$lwr, upr = pi$upr, warnings = I(unique(warns)))
  if (!is.null(pi$effect)) { out$effect <- pi$effect; out$obs <- pi$obs }
  out
}

cases <- list(
  run("slope_full", "m_slope", "sleep_new", list(which = "full"), list(which = "full", seed = 101)),
  run("slope_fixed", "m_slope", "sleep_new", list(which = "fixed"), list(which = "fixed", seed = 102)),
  run("slope_random", "m_slope", "sleep_new", list(which = "random"), list(which = "random", seed = 103)),
  run("slope_full_no_resid", "m_slope", "sleep_new", list(which = "full", include_resid_var = FALSE),
      list(which = "full", include.resid.var = FALSE, seed = 104)),
  run("slope_all", "m_slope", "sleep_new", list(which = "all"), list(which = "all", seed = 105)),
  run("slope_full_mean", "m_slope", "sleep_new", list(which = "full", stat = "mean"),
      list(which = "full", stat = "mean", seed = 106)),
  run("int_fix_intercept_variance", "m_int", "sleep_new",
      list(which = "fixed", include_resid_var = FALSE, fix_intercept_variance = TRUE),
      list(which = "fixed", include.resid.var = FALSE, fix.intercept.variance = TRUE, seed = 107)),
  run("int_ignore_intercept", "m_int", "sleep_new",
      list(which = "full", include_resid_var = FALSE, ignore_fixed_terms = "(Intercept)"),
      list(which = "full", include.resid.var = FALSE, ignore.fixed.terms = "(Intercept)", seed = 108)),
  run("binomial_probability", "g_bin", "cbpp_new", list(which = "full", type = "response"),
      list(which = "full", type = "probability", seed = 109)),
  run("binomial_probability_no_resid", "g_bin", "cbpp_new",
      list(which = "full", type = "response", include_resid_var = FALSE),
      list(which = "full", type = "probability", include.resid.var = FALSE, seed = 110))
)

out <- list(
  kind = "mertools_predict_interval",
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  merTools = as.character(packageVersion("merTools"))),
  n_sims = N_SIMS, level = LEVEL,
  newdata = list(
    sleep_new = list(Days = sleep_new$Days, Subject = as.character(sleep_new$Subject)),
    cbpp_new = list(period = as.character(cbpp_new$period), herd = as.character(cbpp_new$herd))),
  models = list(
    m_slope = inputs(m_slope, "Subject", as.character(sleep_new$Subject)),
    m_int = inputs(m_int, "Subject", as.character(sleep_new$Subject)),
    g_bin = inputs(g_bin, "herd", as.character(cbpp_new$herd))),
  cases = cases,
  generated_by = "tests/reference/make_mertools_predict_interval.R")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           "tests/reference/mertools_predict_interval.json")
