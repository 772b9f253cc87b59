# nlme 3.1 lme() reference fits for tests/test_lme.py: estimates, SEs, nlme's denominator df
# (getFixDF), variance components, variance-function ratios, logLik/AIC/BIC, and the printed
# summary() of each model. Run from the repository root:
#   Rscript tests/reference/make_lme_cases.R
suppressMessages({library(nlme); library(jsonlite)})
rd <- function(n){ d <- read.csv(gzfile(sprintf('tests/data/%s.csv.gz', n)), stringsAsFactors=FALSE)
  lv <- fromJSON(sprintf('tests/data/%s.levels.json', n))
  for (k in names(lv)) d[[k]] <- factor(d[[k]], levels=lv[[k]]); d }
gpa <- rd('gpa'); sleep <- rd('sleepstudy'); pastes <- rd('Pastes'); nurses <- rd('nurses')
specs <- list(
 list(id='gpa_varident', d='gpa', fixed=gpa ~ occasion, random=~1 | student, w='occasion', method='REML'),
 list(id='gpa_varident_ml', d='gpa', fixed=gpa ~ occasion, random=~1 | student, w='occasion', method='ML'),
 list(id='sleep_slope', d='sleep', fixed=Reaction ~ Days, random=~Days | Subject, w=NULL, method='REML'),
 list(id='pastes_nested', d='pastes', fixed=strength ~ 1, random=~1 | batch/cask, w=NULL, method='REML'),
 list(id='nurses_nested', d='nurses', fixed=stress ~ age + sex + experience + treatment + wardtype + hospsize,
      random=~1 | hospital/ward, w=NULL, method='REML'),
 list(id='nurses_nested_ml', d='nurses', fixed=stress ~ age + sex + experience + treatment + wardtype + hospsize,
      random=~1 | hospital/ward, w=NULL, method='ML')
)
out <- list()
for (s in specs) {
  dat <- get(s$d)
  ctrl <- lmeControl(msMaxIter=1000, msTol=1e-12, tolerance=1e-10, niterEM=100)
  # do.call puts the formulas themselves into the call, so summary() prints them.
  args <- list(fixed=s$fixed, data=quote(dat), random=s$random, method=s$method, control=ctrl)
  if (!is.null(s$w)) args$weights <- varIdent(form=as.formula(paste('~ 1 |', s$w)))
  m <- do.call('lme', args)
  tt <- summary(m)$tTable
  vc <- VarCorr(m)
  ratios <- if (is.null(s$w)) NULL else as.list(coef(m$modelStruct$varStruct, unconstrained=FALSE))
  out[[s$id]] <- list(data=s$d, fixed=paste(deparse(s$fixed), collapse=''), random=paste(deparse(s$random), collapse=''),
    weights=s$w, method=s$method, fixef=as.list(fixef(m)), se=as.list(tt[, 'Std.Error']), df=as.list(tt[, 'DF']),
    tvalue=as.list(tt[, 't-value']), pvalue=as.list(tt[, 'p-value']), sigma=m$sigma,
    varcorr_variance=suppressWarnings(as.numeric(vc[, 'Variance'])), varcorr_names=rownames(vc),
    ratios=ratios, logLik=as.numeric(logLik(m)), df_logLik=attr(logLik(m), 'df'), AIC=AIC(m), BIC=BIC(m),
    fitted1=as.numeric(fitted(m, level=1))[1:10], fitted0=as.numeric(fitted(m, level=0))[1:10],
    resid_pearson=as.numeric(residuals(m, type='pearson'))[1:10])
  writeLines(capture.output(print(summary(m))), sprintf('tests/reference/printed/lme_%s_summary.txt', s$id))
}
write(toJSON(out, auto_unbox=TRUE, digits=NA, null='null', na='null'), 'tests/reference/lme_nlme_cases.json')
