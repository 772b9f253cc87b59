# plm 2.6-2 Hausman tests (phtest) for tests/test_hausman.py, beyond the shared Grunfeld
# reference: the regression-based version (method = "aux", with and without vcovHC), an
# unbalanced panel, the time effect, and a time-invariant regressor the within transform drops.
# print(h) of each goes to tests/reference/printed/hausman_<id>.txt. Run from the repository root:  Rscript tests/reference/make_hausman_cases.R
suppressMessages({library(plm); library(jsonlite)})
d <- read.csv(gzfile('python/merx/data/Grunfeld.csv.gz'))
# a firm-level (time-invariant) regressor: the within estimator drops it, the random one keeps it
d$firmclass <- d$firm %% 3
# an unbalanced panel: these rows (1-based) removed
dropped <- c(1, 2, 3, 25, 47, 48, 49, 50, 133, 199)
du <- d[-dropped, ]
cases <- list(
  list(id='balanced_chisq', data='d', formula=inv ~ value + capital, effect='individual', method='chisq', vcov=NULL),
  list(id='balanced_aux', data='d', formula=inv ~ value + capital, effect='individual', method='aux', vcov=NULL),
  list(id='balanced_aux_hc0', data='d', formula=inv ~ value + capital, effect='individual', method='aux', vcov='vcovHC'),
  list(id='unbalanced_chisq', data='du', formula=inv ~ value + capital, effect='individual', method='chisq', vcov=NULL),
  list(id='unbalanced_aux', data='du', formula=inv ~ value + capital, effect='individual', method='aux', vcov=NULL),
  list(id='unbalanced_aux_hc0', data='du', formula=inv ~ value + capital, effect='individual', method='aux', vcov='vcovHC'),
  list(id='time_chisq', data='d', formula=inv ~ value + capital, effect='time', method='chisq', vcov=NULL),
  # V_within - V_random not positive definite: plm 2.6-2 reports |d' solve(dvcov) d| without a word
  list(id='not_positive_definite_chisq', data='d', formula=capital ~ inv + value, effect='individual',
       method='chisq', vcov=NULL),
  list(id='time_invariant_chisq', data='d', formula=inv ~ value + capital + firmclass, effect='individual',
       method='chisq', vcov=NULL)
)
coefs <- function(m) { s <- summary(m)$coefficients
  list(names=rownames(s), estimate=unname(s[, 1]), std_error=unname(s[, 2])) }
out <- list()
for (s in cases) {
  dat <- pdata.frame(get(s$data), index=c('firm', 'year'))
  if (s$method == 'aux') {
    # do.call with the formula itself (and the name vcovHC) in the call: the printed data: line
    args <- list(x=s$formula, data=quote(dat), effect=s$effect, method='aux')
    if (!is.null(s$vcov)) args$vcov <- as.name(s$vcov)
    h <- do.call('phtest', args)
    extra <- list()
  } else {
    fe <- do.call('plm', list(formula=s$formula, data=quote(dat), model='within', effect=s$effect))
    re <- do.call('plm', list(formula=s$formula, data=quote(dat), model='random', effect=s$effect))
    h <- phtest(fe, re)
    ec <- ercomp(re)
    extra <- list(within=coefs(fe), random=coefs(re), sigma2=as.list(ec$sigma2),
                  theta=unname(as.numeric(ec$theta)))
  }
  writeLines(capture.output(print(h)), sprintf('tests/reference/printed/hausman_%s.txt', s$id))
  out[[s$id]] <- c(list(data=s$data, formula=paste(deparse(s$formula), collapse=''), effect=s$effect,
                        method=s$method, vcov=s$vcov, statistic=unname(h$statistic), df=unname(h$parameter),
                        p_value=h$p.value, method_name=h$method), extra)
}
out$dropped_rows_1based <- dropped
out$versions <- list(R=paste(R.version$major, R.version$minor, sep='.'), plm=as.character(packageVersion('plm')))
write(toJSON(out, auto_unbox=TRUE, digits=NA, null='null', na='null'), 'tests/reference/hausman_cases.json')
