# performance 0.10.2 (insight 0.19) ICCs and Nakagawa R² for tests/test_icc_r2.py, beyond the shared
# references (sleepstudy, Penicillin, cbpp): Poisson GLMMs (the lognormal approximation with
# performance's null-model refit, with an offset, with an observation-level term that goes to the
# dispersion variance), a probit binomial GLMM, an uncorrelated random slope, ICCs by group and a
# singular fit. Each case also keeps lme4's θ, β and (Poisson) the null model's intercept, to tell fit
# differences from formula ones.
# Run from the repository root:  Rscript tests/reference/make_icc_cases.R
suppressMessages({library(lme4); library(performance); library(jsonlite)})
rd <- function(n){ d <- read.csv(gzfile(sprintf('tests/data/%s.csv.gz', n)), stringsAsFactors=FALSE)
  lv <- fromJSON(sprintf('tests/data/%s.levels.json', n))
  for (k in names(lv)) d[[k]] <- factor(d[[k]], levels=lv[[k]]); d }
cases <- list(
  list(id='grouseticks_poisson_brood', data='grouseticks', formula='TICKS ~ YEAR + (1 | BROOD)', family='poisson',
       link='log'),
  list(id='grouseticks_poisson_obs_level', data='grouseticks',
       formula='TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)', family='poisson', link='log'),
  list(id='cbpp_poisson_offset', data='cbpp', formula='incidence ~ period + offset(log(size)) + (1 | herd)',
       family='poisson', link='log'),
  list(id='cbpp_probit', data='cbpp', formula='cbind(incidence, size - incidence) ~ period + (1 | herd)',
       family='binomial', link='probit'),
  list(id='sleepstudy_uncorrelated_slope', data='sleepstudy', formula='Reaction ~ Days + (Days || Subject)',
       family='gaussian', link='identity'),
  list(id='penicillin_crossed', data='Penicillin', formula='diameter ~ 1 + (1 | plate) + (1 | sample)',
       family='gaussian', link='identity'),
  list(id='dyestuff2_singular', data='Dyestuff2', formula='Yield ~ 1 + (1 | Batch)', family='gaussian',
       link='identity')
)
num <- function(v) if (is.null(v) || all(is.na(v))) NULL else unname(as.numeric(v))
out <- list()
for (s in cases) {
  dat <- rd(s$data)
  f <- as.formula(s$formula)
  m <- if (s$family == 'gaussian') do.call('lmer', list(formula=f, data=quote(dat)))
       else do.call('glmer', list(formula=f, data=quote(dat), family=get(s$family)(link=s$link)))
  ic <- suppressWarnings(icc(m))
  icg <- suppressWarnings(icc(m, by_group=TRUE))
  r2 <- suppressWarnings(r2_nakagawa(m))
  v <- suppressWarnings(insight::get_variance(m))
  out[[s$id]] <- list(data=s$data, formula=s$formula, family=s$family, link=s$link,
    icc_adjusted=if (is.data.frame(ic)) ic$ICC_adjusted else NULL,
    icc_conditional=if (is.data.frame(ic)) ic$ICC_conditional else NULL,
    icc_by_group=if (is.data.frame(icg)) list(group=icg$Group, icc=icg$ICC) else NULL,
    r2_marginal=num(r2$R2_marginal), r2_conditional=num(r2$R2_conditional),
    var_fixed=num(v$var.fixed), var_random=num(v$var.random), var_residual=num(v$var.residual),
    var_distribution=num(v$var.distribution), var_dispersion=num(v$var.dispersion),
    theta=unname(getME(m, 'theta')), beta=unname(fixef(m)),
    null_intercept=if (s$family == 'poisson') unname(fixef(insight::null_model(m))[1]) else NULL)
}
out$versions <- list(R=paste(R.version$major, R.version$minor, sep='.'), lme4=as.character(packageVersion('lme4')),
                     performance=as.character(packageVersion('performance')),
                     insight=as.character(packageVersion('insight')))
write(toJSON(out, auto_unbox=TRUE, digits=NA, null='null', na='null'), 'tests/reference/icc_cases.json')
