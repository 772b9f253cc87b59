# nlme 3.1-162's print(VarCorr(m)) for tests/test_lme_varcorr.py:
#   Rscript tests/reference/make_lme_varcorr.R  (from the repository root)
library(nlme)
library(jsonlite)
g <- read.csv(gzfile("tests/data/gpa.csv.gz"))
p <- read.csv(gzfile("tests/data/Pastes.csv.gz"))
s <- read.csv(gzfile("tests/data/sleepstudy.csv.gz"))
out <- list(
  intercept = capture.output(print(VarCorr(lme(gpa ~ occasion, data = g, random = ~1 | student)))),
  slope = capture.output(print(VarCorr(lme(gpa ~ occasion, data = g, random = ~occasion | student)))),
  nested = capture.output(print(VarCorr(lme(strength ~ 1, data = p, random = ~1 | batch/cask)))),
  varident = capture.output(print(VarCorr(lme(gpa ~ occasion, data = g, random = ~1 | student,
                                              weights = varIdent(form = ~1 | occasion))))),
  sleep_ml = capture.output(print(VarCorr(lme(Reaction ~ Days, data = s, random = ~Days | Subject, method = "ML"))))
)
writeLines(toJSON(out, auto_unbox = FALSE), "tests/reference/lme_varcorr_printed.json")
