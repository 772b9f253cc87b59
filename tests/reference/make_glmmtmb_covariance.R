## glmmTMB 1.1.5 fits with diag() and cs() covariance structures (gaussian, ML), written to
## tests/reference/glmmtmb_covariance_structures.json for tests/test_covariance_structures.py.
## (gpa ~ occasion + cs(0 + occas | student) is not among them: glmmTMB reports false
## convergence there, with the correlation at 1.)
## Run from the repository root: Rscript tests/reference/make_glmmtmb_covariance.R
suppressMessages({library(glmmTMB); library(jsonlite)})

read_with_levels <- function(name) {
  d <- read.csv(gzfile(file.path("tests/data", paste0(name, ".csv.gz"))), stringsAsFactors = FALSE)
  lev <- fromJSON(file.path("tests/data", paste0(name, ".levels.json")))
  for (v in names(lev)) d[[v]] <- factor(as.character(d[[v]]), levels = lev[[v]])
  d
}

one_fit <- function(id, dataset, formula) {
  d <- read_with_levels(dataset)
  m <- glmmTMB(as.formula(formula), data = d, family = gaussian, REML = FALSE)
  vc <- VarCorr(m)$cond
  terms <- lapply(seq_along(vc), function(i) {
    v <- vc[[i]]
    list(group = names(vc)[i], columns = colnames(v), stddev = unname(attr(v, "stddev")),
         correlation = unname(as.matrix(attr(v, "correlation"))),
         blockCode = names(m$modelInfo$reStruc$condReStruc[[i]]$blockCode))
  })
  list(id = id, dataset = dataset, formula = formula, REML = FALSE,
       fixef = as.list(fixef(m)$cond), se = as.list(sqrt(diag(vcov(m)$cond))),
       sigma = sigma(m), varcorr = terms, logLik = as.numeric(logLik(m)),
       logLik_df = attr(logLik(m), "df"), AIC = AIC(m), theta = unname(getME(m, "theta")),
       convergence = list(code = m$fit$convergence, message = m$fit$message, pdHess = m$sdr$pdHess),
       warnings = list())
}

fits <- list(
  one_fit("machines_diag", "Machines", "score ~ Machine + diag(0 + Machine | Worker)"),
  one_fit("machines_cs", "Machines", "score ~ Machine + cs(0 + Machine | Worker)"),
  one_fit("sleepstudy_diag", "sleepstudy", "Reaction ~ Days + diag(Days | Subject)")
)
out <- list(generated_by = "tests/reference/make_glmmtmb_covariance.R",
            versions = list(R = R.version.string, glmmTMB = as.character(packageVersion("glmmTMB")),
                            TMB = as.character(packageVersion("TMB"))),
            fits = fits)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/glmmtmb_covariance_structures.json")
