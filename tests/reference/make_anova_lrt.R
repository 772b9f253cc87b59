## Reference likelihood-ratio tables for tests/test_anova_lrt.py: lme4's anova(m0, m1, ...)
## of glmer fits (cbpp), of several lmer REML fits refitted with ML (sleepstudy, passed out of
## order), of REML fits compared with refit = FALSE, of two models with the same number of
## parameters (Df 0: no p-value), and R's pchisq(x, df, lower.tail = FALSE) on a grid (for
## merx's chi-squared tail). Run from the repository root:
##   Rscript tests/reference/make_anova_lrt.R
## Writes tests/reference/anova_lrt_cases.json (the tables, the messages and warnings, and
## print(anova(...)) line by line; the pchisq grid).
suppressMessages({ library(lme4); library(jsonlite) })

run <- function(id, expr, fits) {
  msgs <- character(); warns <- character()
  a <- withCallingHandlers(eval(expr),
    message = function(m) { msgs <<- c(msgs, sub("\n$", "", conditionMessage(m))); invokeRestart("muffleMessage") },
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  rows <- lapply(seq_len(nrow(a)), function(i) {
    r <- as.list(a[i, ]); names(r) <- colnames(a)
    c(list(term = rownames(a)[i]), lapply(r, function(v) if (is.na(v)) NULL else unname(v)))
  })
  list(id = id, r_call = deparse1(expr), models = fits, messages = I(msgs), warnings = I(warns),
       table = rows, printed = I(capture.output(print(a))))
}

data(cbpp, package = "lme4"); data(sleepstudy, package = "lme4")
gm0 <- glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd), cbpp, binomial)
gm1 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)
fm0 <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
fm1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
fm2 <- lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), sleepstudy)
fm3 <- lmer(Reaction ~ Days + (0 + Days | Subject), sleepstudy, REML = FALSE)
fm0ml <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy, REML = FALSE)
fits <- function(...) lapply(list(...), function(f) list(
  formula = deparse1(formula(f)), REML = isREML(f), logLik = as.numeric(logLik(f)),
  npar = attr(logLik(f), "df"), nobs = nobs(f)))

cases <- list(
  run("cbpp_glmer", quote(anova(gm1, gm0)), fits(gm1, gm0)),
  run("sleepstudy_refit_three", quote(anova(fm1, fm0, fm2)), fits(fm1, fm0, fm2)),
  run("sleepstudy_reml_norefit", quote(anova(fm0, fm1, refit = FALSE)), fits(fm0, fm1)),
  run("sleepstudy_same_npar", quote(anova(fm3, fm0ml)), fits(fm3, fm0ml))
)
grid <- expand.grid(x = c(1e-6, 0.01, 0.5, 1, 2, 3.84, 5, 7.5, 10, 15, 25, 42.1393, 60, 100, 300, 1000),
                    df = c(1:10, 0.5, 2.5, 15, 30, 100))
chisq <- list(x = grid$x, df = grid$df, p = pchisq(grid$x, grid$df, lower.tail = FALSE))
out <- list(kind = "anova_lrt_cases",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
            cases = cases, pchisq_upper = chisq, generated_by = "tests/reference/make_anova_lrt.R")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           "tests/reference/anova_lrt_cases.json")
