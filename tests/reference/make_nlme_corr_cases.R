# nlme 3.1 reference fits with residual correlation structures and variance functions
# (lme and gls) for tests/test_lme_correlation.py: estimates, SEs, sigma, variance
# components, the structures' parameters (natural and nlme's unconstrained), logLik/AIC/BIC,
# fitted values (levels 0 and 1), residuals of the three types, and the printed summary().
# Run from the repository root:
#   Rscript tests/reference/make_nlme_corr_cases.R
suppressMessages({library(nlme); library(jsonlite)})
rd <- function(n){ d <- read.csv(gzfile(sprintf('tests/data/%s.csv.gz', n)), stringsAsFactors=FALSE)
  lv <- fromJSON(sprintf('tests/data/%s.levels.json', n))
  for (k in names(lv)) d[[k]] <- factor(d[[k]], levels=lv[[k]]); d }
gpa <- rd('gpa'); sleep <- rd('sleepstudy')
gpa$occ1 <- gpa$occasion + 1
# Gaps in time: drop occasion 2 of every third student and occasion 4 of every fifth.
sid <- as.integer(as.character(gpa$student))
gpagaps <- gpa[!((sid %% 3 == 0 & gpa$occasion == 2) | (sid %% 5 == 0 & gpa$occasion == 4)), ]
# Continuous time: occasions at uneven distances (semester lengths).
gpagaps$t <- c(0, 0.45, 1.1, 1.5, 2.3, 2.6)[gpagaps$occasion + 1]
sleep$Days1 <- sleep$Days + 1
ctrl <- lmeControl(msMaxIter=1000, msTol=1e-12, tolerance=1e-10, niterEM=100)
gctrl <- glsControl(maxIter=1000, msMaxIter=1000, tolerance=1e-10, msTol=1e-12)
specs <- list(
 list(id='gpa_ar1_ml', fun='lme', d='gpa', fixed=gpa ~ occasion, random=~1 | student, cor=quote(corAR1(form = ~occasion | student)), w=NULL, method='ML'),
 list(id='gpa_ar1_gaps', fun='lme', d='gpagaps', fixed=gpa ~ occasion, random=~1 | student, cor=quote(corAR1(form = ~occasion | student)), w=NULL, method='REML'),
 list(id='gpa_ar1_consecutive', fun='lme', d='gpagaps', fixed=gpa ~ occasion, random=~1 | student, cor=quote(corAR1(form = ~1 | student)), w=NULL, method='REML'),
 list(id='gpa_car1', fun='lme', d='gpagaps', fixed=gpa ~ occasion, random=~1 | student, cor=quote(corCAR1(form = ~t | student)), w=NULL, method='REML'),
 list(id='gpa_exp', fun='lme', d='gpagaps', fixed=gpa ~ occasion, random=~1 | student, cor=quote(corExp(form = ~t | student)), w=NULL, method='REML'),
 list(id='gpa_varpower', fun='lme', d='gpa', fixed=gpa ~ occasion, random=~1 | student, cor=NULL, w=quote(varPower(form = ~occ1)), method='REML'),
 list(id='gpa_varexp', fun='lme', d='gpa', fixed=gpa ~ occasion, random=~1 | student, cor=NULL, w=quote(varExp(form = ~occasion)), method='REML'),
 list(id='gpa_varident_ar1', fun='lme', d='gpa', fixed=gpa ~ occasion, random=~1 | student, cor=quote(corAR1(form = ~occasion | student)), w=quote(varIdent(form = ~1 | sex)), method='REML'),
 list(id='gpa_varpower_ar1', fun='lme', d='gpa', fixed=gpa ~ occasion, random=~1 | student, cor=quote(corAR1(form = ~occasion | student)), w=quote(varPower(form = ~occ1)), method='ML'),
 list(id='gpa_slope_ar1', fun='lme', d='gpa', fixed=gpa ~ occasion, random=~occasion | student, cor=quote(corAR1(form = ~occasion | student)), w=NULL, method='REML'),
 list(id='gls_ar1', fun='gls', d='gpa', fixed=gpa ~ occasion, cor=quote(corAR1(form = ~occasion | student)), w=NULL, method='REML'),
 list(id='gls_ar1_ml', fun='gls', d='gpagaps', fixed=gpa ~ occasion, cor=quote(corAR1(form = ~occasion | student)), w=NULL, method='ML'),
 list(id='gls_car1', fun='gls', d='gpagaps', fixed=gpa ~ occasion, cor=quote(corCAR1(form = ~t | student)), w=NULL, method='REML'),
 list(id='gls_exp', fun='gls', d='gpagaps', fixed=gpa ~ occasion, cor=quote(corExp(form = ~t | student)), w=NULL, method='REML'),
 list(id='gls_cs', fun='gls', d='gpa', fixed=gpa ~ occasion, cor=quote(corCompSymm(form = ~1 | student)), w=NULL, method='REML'),
 list(id='gls_varpower', fun='gls', d='gpa', fixed=gpa ~ occasion, cor=NULL, w=quote(varPower(form = ~occ1)), method='REML'),
 list(id='gls_varexp', fun='gls', d='gpa', fixed=gpa ~ occasion, cor=NULL, w=quote(varExp(form = ~occasion)), method='ML'),
 list(id='gls_varident_ar1', fun='gls', d='gpa', fixed=gpa ~ occasion, cor=quote(corAR1(form = ~occasion | student)), w=quote(varIdent(form = ~1 | sex)), method='REML')
)
out <- list()
for (s in specs) {
  dat <- get(s$d)
  args <- list(model=s$fixed, data=quote(dat), method=s$method)
  if (s$fun == 'lme') { names(args)[1] <- 'fixed'; args$random <- s$random; args$control <- ctrl } else args$control <- gctrl
  if (!is.null(s$cor)) args$correlation <- s$cor
  if (!is.null(s$w)) args$weights <- s$w
  t0 <- proc.time()[['elapsed']]
  m <- do.call(s$fun, args)
  elapsed <- proc.time()[['elapsed']] - t0
  sm <- summary(m)
  tt <- sm$tTable
  ms <- m$modelStruct
  cs <- if (is.null(ms$corStruct)) NULL else list(coef=as.list(coef(ms$corStruct, unconstrained=FALSE)), unconstrained=as.numeric(coef(ms$corStruct)))
  vs <- if (is.null(ms$varStruct)) NULL else list(coef=as.list(coef(ms$varStruct, unconstrained=FALSE)), unconstrained=as.numeric(coef(ms$varStruct)))
  rec <- list(fun=s$fun, data=s$d, fixed=paste(deparse(s$fixed), collapse=''),
    correlation=if (is.null(s$cor)) NULL else paste(deparse(s$cor), collapse=''),
    weights=if (is.null(s$w)) NULL else paste(deparse(s$w), collapse=''), method=s$method,
    nobs=nrow(dat), rows_used=as.integer(rownames(dat)),
    fixef=as.list(if (s$fun == 'lme') fixef(m) else coef(m)), se=as.list(tt[, 'Std.Error']), sigma=m$sigma,
    corStruct=cs, varStruct=vs, logLik=as.numeric(logLik(m)), df_logLik=attr(logLik(m), 'df'), AIC=AIC(m), BIC=BIC(m),
    resid_response=as.numeric(residuals(m, type='response')),
    resid_pearson=as.numeric(residuals(m, type='pearson')),
    resid_normalized=as.numeric(residuals(m, type='normalized')),
    fitted=as.numeric(fitted(m)), seconds=elapsed)
  if (s$fun == 'lme') {
    rec$random <- paste(deparse(s$random), collapse='')
    rec$fitted0 <- as.numeric(fitted(m, level=0))
    rec$varcorr_variance <- suppressWarnings(as.numeric(VarCorr(m)[, 'Variance']))
    rec$varcorr_names <- rownames(VarCorr(m))
    rec$df <- as.list(tt[, 'DF'])
  }
  out[[s$id]] <- rec
  writeLines(capture.output(print(sm)), sprintf('tests/reference/printed/nlme_%s_summary.txt', s$id))
}
write(toJSON(out, auto_unbox=TRUE, digits=NA, null='null', na='null'), 'tests/reference/nlme_corr_cases.json')
m <- lme(gpa ~ occasion, data=gpa, random=~1 | student, correlation=corAR1(form = ~occasion | student), control=ctrl)
writeLines(capture.output(print(summary(m))), 'tests/reference/printed/nlme_gpa_ar1_summary.txt')
