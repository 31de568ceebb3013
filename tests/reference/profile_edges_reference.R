## lme4's profile intervals for random slopes whose correlation estimate is within 0.01
## of +-1 (data: make_profile_edges_data.py). Run from the repository root:
##   Rscript tests/reference/profile_edges_reference.R
suppressMessages({library(lme4); library(jsonlite)})
source(file.path("tests", "reference", "common.R"))
cases <- list()
for (seed in c(4, 11, 8)) {
  file <- file.path("tests", "reference", "data", sprintf("slope_corr_%d.csv", seed))
  d <- read.csv(file)
  d$g <- factor(d$g)
  m <- lmer(y ~ t + (1 + t | g), data = d, REML = TRUE,
            control = lmer_tight_controls()$bobyqa)
  ci <- suppressWarnings(confint(m, method = "profile", oldNames = FALSE))
  rows <- lapply(rownames(ci), function(p) list(parm = p, lower = ci[p, 1], upper = ci[p, 2]))
  cases[[length(cases) + 1]] <- list(seed = seed, data_file = file,
                                     llf = as.numeric(logLik(m)), rows = rows)
}
meta <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
             notes = "confint(method = 'profile') of the REML fit (lme4 profiles the ML deviance); warnings suppressed.")
writeLines(toJSON(list(meta = meta, cases = cases), auto_unbox = TRUE, digits = NA,
                  na = "null", pretty = TRUE),
           file.path("tests", "reference", "profile_edges_reference.json"))
