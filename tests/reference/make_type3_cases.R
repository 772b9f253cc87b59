## lmerTest's type 1, 2 and 3 F tables of models with interactions (marginal terms
## orthogonalized as lmerTest does) for tests/test_ddf.py, at lme4's θ.
##   Rscript tests/reference/make_type3_cases.R
suppressMessages({ library(lmerTest); library(jsonlite) })
read_data <- function(name) {
  d <- read.csv(gzfile(file.path("tests/data", paste0(name, ".csv.gz"))))
  lev <- fromJSON(file.path("tests/data", paste0(name, ".levels.json")))
  for (v in names(lev)) d[[v]] <- factor(as.character(d[[v]]), levels = lev[[v]])
  d
}
aov <- function(m, type, ddf) {
  a <- anova(m, type = type, ddf = ddf)
  list(terms = rownames(a), sum_sq = a[["Sum Sq"]], mean_sq = a[["Mean Sq"]], num_df = a[["NumDF"]],
       den_df = a[["DenDF"]], f_value = a[["F value"]], p_value = a[["Pr(>F)"]])
}
case <- function(id, dataset, formula, data) {
  m <- lmer(as.formula(formula), data = data)
  list(id = id, dataset = dataset, formula = formula, theta = unname(getME(m, "theta")),
       anova_type3_satterthwaite = aov(m, 3, "Satterthwaite"), anova_type1_satterthwaite = aov(m, 1, "Satterthwaite"),
       anova_type3_kenward_roger = aov(m, 3, "Kenward-Roger"), anova_type1_kenward_roger = aov(m, 1, "Kenward-Roger"),
       anova_type2_satterthwaite = aov(m, 2, "Satterthwaite"), anova_type2_kenward_roger = aov(m, 2, "Kenward-Roger"))
}
sleep <- read_data("sleepstudy")
sleep$late <- factor(ifelse(sleep$Days > 4, "yes", "no"))
pupils <- read_data("pupils")
cake <- read_data("cake")
cases <- list(
  case("sleepstudy_days_by_late", "sleepstudy+late", "Reaction ~ Days * late + (Days | Subject)", sleep),
  case("pupils_ses_by_sex", "pupils", "achievement ~ ses * sex + (1 | primary_school_id) + (1 | secondary_school_id)", pupils),
  case("cake_recipe_by_temperature", "cake", "angle ~ recipe * temperature + (1 | recipe:replicate)", cake),
  case("cake_recipe_by_temp", "cake", "angle ~ recipe * temp + I(temp^2) + (1 | recipe:replicate)", cake)
)
writeLines(toJSON(list(generated_by = "tests/reference/make_type3_cases.R", versions = list(
  lme4 = as.character(packageVersion("lme4")), lmerTest = as.character(packageVersion("lmerTest"))),
  cases = cases), digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/reference/type3_cases.json")
