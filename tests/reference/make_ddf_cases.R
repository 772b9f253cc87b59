## Reference denominator-df tables for tests/test_ddf.py: lmerTest 3.1-3 (Satterthwaite) and
## pbkrtest 0.5.2 (Kenward-Roger) on fits whose θ is passed back to merx, so that the
## comparison is of the df computations alone. Run from the repository root:
##   Rscript tests/reference/make_ddf_cases.R
suppressMessages({ library(lmerTest); library(pbkrtest); library(jsonlite) })
read_data <- function(name) {
  d <- read.csv(gzfile(file.path("tests/data", paste0(name, ".csv.gz"))))
  lev <- fromJSON(file.path("tests/data", paste0(name, ".levels.json")))
  for (v in names(lev)) d[[v]] <- factor(as.character(d[[v]]), levels = lev[[v]])
  d
}
coefs <- function(m, ddf) {
  tab <- summary(m, ddf = ddf)$coefficients
  list(names = rownames(tab), estimate = unname(tab[, "Estimate"]), se = unname(tab[, "Std. Error"]),
       df = unname(tab[, "df"]), t = unname(tab[, "t value"]), p = unname(tab[, "Pr(>|t|)"]))
}
aov <- function(m, type, ddf) {
  a <- anova(m, type = type, ddf = ddf)
  list(terms = rownames(a), sum_sq = a[["Sum Sq"]], mean_sq = a[["Mean Sq"]], num_df = a[["NumDF"]],
       den_df = a[["DenDF"]], f_value = a[["F value"]], p_value = a[["Pr(>F)"]])
}
case <- function(id, dataset, formula, data, REML = TRUE, kr = REML) {
  m <- lmer(as.formula(formula), data = data, REML = REML)
  out <- list(id = id, dataset = dataset, formula = formula, REML = REML,
              theta = unname(getME(m, "theta")),
              satterthwaite = coefs(m, "Satterthwaite"),
              anova_type3_satterthwaite = aov(m, 3, "Satterthwaite"),
              anova_type1_satterthwaite = aov(m, 1, "Satterthwaite"))
  if (kr) {
    out$kenward_roger <- coefs(m, "Kenward-Roger")
    out$vcov_adjusted <- unname(as.matrix(vcovAdj(m)))
    out$anova_type3_kenward_roger <- aov(m, 3, "Kenward-Roger")
    out$anova_type1_kenward_roger <- aov(m, 1, "Kenward-Roger")
  }
  out
}
inst <- read_data("InstEval")[1:5000, ]
inst <- droplevels(inst)
sleep <- read_data("sleepstudy")
pupils <- read_data("pupils")
cases <- list(
  case("insteval_5000", "InstEval[1:5000]", "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)", inst),
  case("sleepstudy_quadratic", "sleepstudy", "Reaction ~ Days + I(Days^2) + (1 | Subject) + (0 + Days | Subject)", sleep),
  case("sleepstudy_quadratic_ml", "sleepstudy", "Reaction ~ Days + I(Days^2) + (1 | Subject) + (0 + Days | Subject)", sleep, REML = FALSE),
  case("pupils_ses_sex", "pupils", "achievement ~ ses + sex + (1 | primary_school_id) + (1 | secondary_school_id)", pupils)
)
writeLines(toJSON(list(generated_by = "tests/reference/make_ddf_cases.R", versions = list(
  lme4 = as.character(packageVersion("lme4")), lmerTest = as.character(packageVersion("lmerTest")),
  pbkrtest = as.character(packageVersion("pbkrtest"))), cases = cases), digits = NA, auto_unbox = TRUE, pretty = TRUE),
  "tests/reference/ddf_cases.json")
