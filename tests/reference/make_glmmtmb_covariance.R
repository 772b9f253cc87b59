## glmmTMB 1.1.5 fits with diag(), cs() and ar1() covariance structures, written to
## tests/reference/glmmtmb_covariance_structures.json for tests/test_covariance_structures.py:
## gaussian ML fits of diag() and cs(); gpa's cs(0 + occas | student), where glmmTMB stops
## with false convergence as the correlation nears 1 (its warnings are recorded); and a
## binomial ar1() fit of gpa > 3 (the response `high`), whose correlation is near 1.
## Run from the repository root: Rscript tests/reference/make_glmmtmb_covariance.R
suppressMessages({library(glmmTMB); library(jsonlite)})

read_with_levels <- function(name) {
  d <- read.csv(gzfile(file.path("tests/data", paste0(name, ".csv.gz"))), stringsAsFactors = FALSE)
  lev <- fromJSON(file.path("tests/data", paste0(name, ".levels.json")))
  for (v in names(lev)) d[[v]] <- factor(as.character(d[[v]]), levels = lev[[v]])
  d
}

one_fit <- function(id, dataset, formula, family = gaussian) {
  d <- read_with_levels(dataset)
  if (dataset == "gpa") d$high <- as.numeric(d$gpa > 3)
  warns <- character()
  m <- withCallingHandlers(glmmTMB(as.formula(formula), data = d, family = family, REML = FALSE),
                           warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  vc <- VarCorr(m)$cond
  terms <- lapply(seq_along(vc), function(i) {
    v <- vc[[i]]
    list(group = names(vc)[i], columns = colnames(v), stddev = unname(attr(v, "stddev")),
         correlation = unname(as.matrix(attr(v, "correlation"))),
         blockCode = names(m$modelInfo$reStruc$condReStruc[[i]]$blockCode))
  })
  list(id = id, dataset = dataset, formula = formula, family = family()$family, REML = FALSE,
       fixef = as.list(fixef(m)$cond), se = as.list(sqrt(diag(vcov(m)$cond))),
       sigma = if (family()$family == "gaussian") sigma(m) else NULL, varcorr = terms, logLik = as.numeric(logLik(m)),
       logLik_df = attr(logLik(m), "df"), AIC = AIC(m), theta = unname(getME(m, "theta")),
       convergence = list(code = m$fit$convergence, message = m$fit$message, pdHess = m$sdr$pdHess),
       warnings = as.list(warns))
}

fits <- list(
  one_fit("machines_diag", "Machines", "score ~ Machine + diag(0 + Machine | Worker)"),
  one_fit("machines_cs", "Machines", "score ~ Machine + cs(0 + Machine | Worker)"),
  one_fit("sleepstudy_diag", "sleepstudy", "Reaction ~ Days + diag(Days | Subject)"),
  one_fit("gpa_cs_boundary", "gpa", "gpa ~ occasion + cs(0 + occas | student)"),
  one_fit("gpa_binary_ar1", "gpa", "high ~ occasion + ar1(0 + occas | student)", family = binomial)
)
## glmmTMB's likelihood-profile intervals of the ar1 term's parameters on its own scale (log SD,
## φ's unconstrained x with φ = x/√(1+x²)): profile intervals are invariant under such monotone
## maps, so they give the intervals of the SD and of φ.
gpa <- read_with_levels("gpa")
m_ar1 <- glmmTMB(gpa ~ occasion + ar1(0 + occas | student), data = gpa, family = gaussian, REML = FALSE)
ci <- confint(m_ar1, method = "profile", parm = "theta_", estimate = FALSE)
profile <- list(formula = "gpa ~ occasion + ar1(0 + occas | student)", level = 0.95,
                log_sd = unname(ci[1, ]), phi_raw = unname(ci[2, ]),
                sd = unname(exp(ci[1, ])), phi = unname(ci[2, ] / sqrt(1 + ci[2, ]^2)))

out <- list(generated_by = "tests/reference/make_glmmtmb_covariance.R",
            versions = list(R = R.version.string, glmmTMB = as.character(packageVersion("glmmTMB")),
                            TMB = as.character(packageVersion("TMB"))),
            fits = fits, ar1_profile = profile)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/glmmtmb_covariance_structures.json")
