## lme4 reference fit of the MovieLens-1M-shaped ratings (mx.datasets.ratings(): 1,000,209
## ratings, 6,040 users x 3,706 items), rating ~ 1 + (1 | user) + (1 | item), REML, for
## tests/test_ratings_reference.py and benchmarks/bench_engine.py (case f).
##
## The data are simulated by mixedext (a seeded generator); write them first, then run
## from the repository root:
##     python -c "import mixedext as mx; mx.datasets.ratings().to_csv('ratings.csv', index=False)"
##     Rscript tests/reference/ratings_reference.R ratings.csv
## Writes tests/reference/ratings_reference.json. The fit uses the tight nloptwrap
## control of common.R from lme4's default start (bobyqa's is also run when
## RATINGS_BOTH=1; the lower criterion is kept). One fit takes several minutes.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
source(file.path("tests", "reference", "common.R"))

args <- commandArgs(trailingOnly = TRUE)
path <- if (length(args)) args[1] else "ratings.csv"
d <- read.csv(path)
d$user <- factor(d$user)
d$item <- factor(d$item)
formula <- rating ~ 1 + (1 | user) + (1 | item)

controls <- lmer_tight_controls()
if (Sys.getenv("RATINGS_BOTH") != "1") controls <- controls["nloptwrap"]
fits <- list()
seconds <- list()
for (name in names(controls)) {
  t0 <- proc.time()[["elapsed"]]
  fits[[name]] <- lmer(formula, data = d, REML = TRUE, control = controls[[name]])
  seconds[[name]] <- proc.time()[["elapsed"]] - t0
}
crit <- sapply(fits, function(m) -2 * as.numeric(logLik(m)))
m <- fits[[which.min(crit)]]
case <- list(
  case = "ratings", formula = "rating ~ 1 + (1 | user) + (1 | item)", reml = TRUE,
  nobs = nobs(m), n_users = nlevels(d$user), n_items = nlevels(d$item),
  logLik = as.numeric(logLik(m)), optimizer_minus2logLik = as.list(crit),
  optimizer_seconds = seconds,
  fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
  theta = unname(getME(m, "theta")), theta_names = names(getME(m, "theta")),
  sigma = sigma(m), varcorr = varcorr_rows(m))
cat(sprintf("ratings REML logLik %.6f (%s)\n", case$logLik,
            paste(names(crit), sprintf("%.8f", crit), collapse = ", ")))
write_reference(list(meta = c(package_versions(c("lme4", "Matrix")),
                              date = as.character(Sys.Date())),
                     cases = list(case)),
                file.path("tests", "reference", "ratings_reference.json"))
