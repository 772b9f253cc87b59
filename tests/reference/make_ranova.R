# lmerTest 3.x ranova() reference tables for tests/test_ranova.py (single term deletions of the
# random-effects terms, reduce.terms = TRUE; REML fits keep REML). Run from the repository root:
#   Rscript tests/reference/make_ranova.R
suppressMessages({library(lmerTest); library(jsonlite)})
rd <- function(n){ d <- read.csv(gzfile(sprintf('tests/data/%s.csv.gz', n)), stringsAsFactors=FALSE)
  lv <- fromJSON(sprintf('tests/data/%s.levels.json', n))
  for (k in names(lv)) d[[k]] <- factor(d[[k]], levels=lv[[k]]); d }
sleep <- rd('sleepstudy'); pen <- rd('Penicillin'); mach <- rd('Machines')
specs <- list(
 list(id='sleep_slope', d='sleep', f=Reaction ~ Days + (Days | Subject), reml=TRUE),
 list(id='sleep_slope_ml', d='sleep', f=Reaction ~ Days + (Days | Subject), reml=FALSE),
 list(id='sleep_split', d='sleep', f=Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), reml=TRUE),
 list(id='sleep_intercept', d='sleep', f=Reaction ~ Days + (1 | Subject), reml=TRUE),
 list(id='sleep_intercept_ml', d='sleep', f=Reaction ~ Days + (1 | Subject), reml=FALSE),
 list(id='penicillin', d='pen', f=diameter ~ 1 + (1 | plate) + (1 | sample), reml=TRUE),
 list(id='machines_factor_slope', d='mach', f=score ~ Machine + (Machine | Worker), reml=TRUE)
)
out <- list()
dir.create('tests/reference/printed', showWarnings=FALSE)
for (s in specs) {
  d <- get(s$d)
  m <- lmer(s$f, data=d, REML=s$reml, control=lmerControl(optCtrl=list(rhoend=1e-10, maxfun=1e5)))
  r <- ranova(m)
  tab <- as.data.frame(r)
  out[[s$id]] <- list(formula=paste(deparse(s$f), collapse=''), data=s$d, REML=s$reml,
    rows=rownames(tab), npar=tab$npar, logLik=tab$logLik, AIC=tab$AIC, LRT=tab$LRT, Df=tab$Df,
    p=tab[["Pr(>Chisq)"]], heading=attr(r, 'heading'))
  writeLines(capture.output(print(r)), sprintf('tests/reference/printed/ranova_%s.txt', s$id))
}
write(toJSON(out, auto_unbox=TRUE, digits=NA, null='null', na='null'), 'tests/reference/ranova_lmertest.json')
