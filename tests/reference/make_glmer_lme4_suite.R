# lme4 1.1-31 reference fits for tests/test_glmer_lme4_suite.py: each model with lme4 defaults and
# "tight" (bobyqa both stages, rhoend 1e-9, tolPwrss 1e-12). Run from the repository root.
suppressMessages({library(lme4); library(jsonlite)})
rd <- function(n){ d <- read.csv(gzfile(sprintf('/work/shared/data/%s.csv.gz', n)), stringsAsFactors=FALSE)
  lv <- fromJSON(sprintf('/work/shared/data/%s.levels.json', n))
  for (k in names(lv)) d[[k]] <- factor(d[[k]], levels=lv[[k]]); d }
VA <- rd('VerbAgg'); GT <- rd('grouseticks'); SA <- rd('Salamanders'); AR <- rd('Arabidopsis'); SD <- rd('speed_dating'); CB <- rd('cbpp')
GT$BROOD <- factor(GT$BROOD); GT$LOCATION <- factor(GT$LOCATION); GT$YEAR <- factor(GT$YEAR)
AR$gen <- factor(AR$gen); AR$nutrient <- factor(AR$nutrient); AR$rack <- factor(AR$rack)
SD$iid <- factor(SD$iid)
specs <- list(
 list(id='va_logit', d='VA', f=r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), fam=binomial()),
 list(id='va_probit', d='VA', f=r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), fam=binomial(link='probit')),
 list(id='cbpp_cloglog', d='CB', f=cbind(incidence, size - incidence) ~ period + (1 | herd), fam=binomial(link='cloglog')),
 list(id='gt_pois', d='GT', f=TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION), fam=poisson()),
 list(id='gt_offset', d='GT', f=TICKS ~ YEAR + offset(log(HEIGHT/500)) + (1 | BROOD), fam=poisson()),
 list(id='sal_pois', d='SA', f=count ~ spp + mined + (1 | site), fam=poisson()),
 list(id='ara_pois', d='AR', f=total.fruits ~ amd + nutrient + rack + (1 | popu) + (1 | gen), fam=poisson()),
 list(id='sd_slope', d='SD', f=decision ~ sex + attractive_sc + (1 + attractive_sc | iid), fam=binomial()),
 list(id='cbpp_agq9', d='CB', f=cbind(incidence, size - incidence) ~ period + (1 | herd), fam=binomial(), nagq=9)
)
out <- list()
for (s in specs) {
  d <- get(s$d); nagq <- if (is.null(s$nagq)) 1 else s$nagq
  t <- system.time(m <- glmer(s$f, data=d, family=s$fam, nAGQ=nagq))[['elapsed']]
  mt <- glmer(s$f, data=d, family=s$fam, nAGQ=nagq, control=glmerControl(optimizer=c('bobyqa','bobyqa'), tolPwrss=1e-12, optCtrl=list(rhoend=1e-9, maxfun=1e5)))
  tight <- list(fixef=as.list(fixef(mt)), se=as.list(sqrt(diag(as.matrix(vcov(mt))))), theta=as.list(getME(mt,'theta')), logLik=as.numeric(logLik(mt)))
  out[[s$id]] <- list(formula=paste(deparse(s$f), collapse=''), family=s$fam$family, link=s$fam$link, nAGQ=nagq,
    fixef=as.list(fixef(m)), se=as.list(sqrt(diag(as.matrix(vcov(m))))), theta=as.list(getME(m,'theta')),
    logLik=as.numeric(logLik(m)), conv=m@optinfo$conv$lme4$messages, time=t, tight=tight)
  cat(s$id, t, '\n')
}
write(toJSON(out, auto_unbox=TRUE, digits=NA, null='null'), 'tests/reference/glmer_lme4_suite.json')
