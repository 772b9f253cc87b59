# nlme 3.1-162's intervals() and apVar for tests/test_lme_intervals.py:
#   Rscript tests/reference/make_lme_intervals.R  (from the repository root)
# apVar is nlme's default (fdHess, .relStep = eps^(1/3)) and, as `apVar_fine`, the same
# fit's with .relStep = 1e-4 (a more accurate finite-difference Hessian).
library(nlme)
library(jsonlite)
rd <- function(name) read.csv(gzfile(file.path("tests/data", paste0(name, ".csv.gz"))))
cases <- list(
  list(id = "gpa_varident", data = "gpa", fixed = gpa ~ occasion, random = ~1 | student,
       weights = "occasion", method = "REML"),
  list(id = "sleep_slope_ml", data = "sleepstudy", fixed = Reaction ~ Days, random = ~Days | Subject,
       weights = NULL, method = "ML"),
  list(id = "pastes_nested", data = "Pastes", fixed = strength ~ 1, random = ~1 | batch/cask,
       weights = NULL, method = "REML"),
  list(id = "gpa_ar1", data = "gpa", fixed = gpa ~ occasion, random = ~1 | student,
       weights = NULL, correlation = "occasion | student", method = "REML"),
  list(id = "gpa_sex_ar1_ml", data = "gpa", fixed = gpa ~ occasion, random = ~1 | student,
       weights = "sex", correlation = "occasion | student", method = "ML")
)
frame_of <- function(df) { df <- as.data.frame(df); list(rows = rownames(df), lower = df$lower, est = df[["est."]], upper = df$upper) }
out <- list()
for (cs in cases) {
  dat <- rd(cs$data)
  fit1 <- function(ctrl) {
    w <- if (is.null(cs$weights)) NULL else varIdent(form = as.formula(paste("~1 |", cs$weights)))
    cor <- if (is.null(cs$correlation)) NULL else corAR1(form = as.formula(paste("~", cs$correlation)))
    lme(fixed = cs$fixed, data = dat, random = cs$random, method = cs$method, weights = w, correlation = cor,
        control = ctrl)
  }
  m <- fit1(lmeControl())
  fine <- fit1(lmeControl(.relStep = 1e-4))
  iv <- intervals(m)
  iv90 <- intervals(m, level = 0.9)
  rec <- list(
    fixed = paste(deparse(cs$fixed), collapse = ""), random = paste(deparse(cs$random), collapse = ""),
    data = cs$data, weights = cs$weights, correlation = cs$correlation, method = cs$method,
    apVar = unname(m$apVar), apVar_fine = unname(fine$apVar), apVar_names = rownames(m$apVar),
    apVar_pars = unname(attr(m$apVar, "Pars")),
    fixed_iv = frame_of(iv$fixed),
    reStruct = lapply(iv$reStruct, frame_of),
    varStruct = if (is.null(iv$varStruct)) NULL else frame_of(iv$varStruct),
    corStruct = if (is.null(iv$corStruct)) NULL else frame_of(iv$corStruct),
    sigma = unname(iv$sigma),
    sigma90 = unname(iv90$sigma),
    printed = capture.output(print(iv))
  )
  out[[cs$id]] <- rec
}
# gls: intervals.gls (its Coefficients use varBeta, with an ML fit's N/(N - p))
gls_cases <- list(
  list(id = "gls_ar1", weights = NULL, correlation = "occasion | student", method = "REML"),
  list(id = "gls_sex_ml", weights = "sex", correlation = NULL, method = "ML")
)
gpa <- rd("gpa")
for (cs in gls_cases) {
  fit1 <- function(ctrl) {
    w <- if (is.null(cs$weights)) NULL else varIdent(form = as.formula(paste("~1 |", cs$weights)))
    cor <- if (is.null(cs$correlation)) NULL else corAR1(form = as.formula(paste("~", cs$correlation)))
    gls(gpa ~ occasion, data = gpa, method = cs$method, weights = w, correlation = cor, control = ctrl)
  }
  m <- fit1(glsControl())
  fine <- fit1(glsControl(.relStep = 1e-4))
  iv <- intervals(m)
  out[[cs$id]] <- list(
    weights = cs$weights, correlation = cs$correlation, method = cs$method,
    apVar = unname(m$apVar), apVar_fine = unname(fine$apVar), apVar_names = rownames(m$apVar),
    apVar_pars = unname(attr(m$apVar, "Pars")),
    coef = frame_of(iv$coef),
    varStruct = if (is.null(iv$varStruct)) NULL else frame_of(iv$varStruct),
    corStruct = if (is.null(iv$corStruct)) NULL else frame_of(iv$corStruct),
    sigma = unname(iv$sigma),
    printed = capture.output(print(iv))
  )
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null"), "tests/reference/lme_intervals_cases.json")
