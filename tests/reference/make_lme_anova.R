# nlme 3.1-162's anova.lme for tests/test_lme_anova.py:
#   Rscript tests/reference/make_lme_anova.R  (from the repository root)
library(nlme)
library(jsonlite)
gpa <- read.csv(gzfile("tests/data/gpa.csv.gz"))
gpa$sex <- factor(gpa$sex, levels = c("male", "female"))
gpa$job <- factor(gpa$job, levels = c("no job", "1 hour", "2 hours", "3 hours", "4 or more hours"))
m1 <- lme(gpa ~ occasion, data = gpa, random = ~1 | student, method = "REML")
m2 <- lme(gpa ~ occasion, data = gpa, random = ~1 | student, method = "REML", weights = varIdent(form = ~1 | occasion))
m3 <- lme(gpa ~ occasion, data = gpa, random = ~occasion | student, method = "REML")
m4 <- lme(gpa ~ occasion + sex + job, data = gpa, random = ~1 | student, method = "ML")
m5 <- lme(gpa ~ occasion, data = gpa, random = ~1 | student, method = "ML")
m6 <- lme(gpa ~ occasion * sex + job, data = gpa, random = ~occasion | student, method = "REML")
tab <- function(a) {
  d <- as.data.frame(a)
  d$call <- NULL
  list(rows = rownames(d), columns = names(d), values = lapply(d, function(v) if (is.factor(v)) as.character(v) else v),
       printed = capture.output(print(a)))
}
out <- list(
  lrt_three = tab(anova(m1, m2, m3)),
  lrt_ml = tab(anova(m5, m4)),
  f_sequential_ml = tab(anova(m4)),
  f_marginal_ml = tab(anova(m4, type = "marginal")),
  f_sequential_reml = tab(anova(m6)),
  f_marginal_reml = tab(anova(m6, type = "marginal"))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null"), "tests/reference/lme_anova_cases.json")
# gls fits: F tests of one fit (denDF N - p) and the likelihood-ratio table mixing gls and lme
g1 <- gls(gpa ~ occasion + sex + job, data = gpa, correlation = corAR1(form = ~occasion | student), method = "ML")
g0 <- gls(gpa ~ occasion + sex + job, data = gpa, method = "ML")
out$gls_f_sequential <- tab(anova(g1))
out$gls_f_marginal <- tab(anova(g1, type = "marginal"))
out$gls_lme_lrt <- tab(anova(g0, g1, m4))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null"), "tests/reference/lme_anova_cases.json")
