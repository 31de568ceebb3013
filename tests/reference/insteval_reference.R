## lme4 reference fits of InstEval's crossed models (two and three crossed factors), REML
## and ML, for tests/test_insteval_reference.py and benchmarks/bench_engine.py (case e).
##
## Run from the repository root, after export_insteval.R:
##     Rscript tests/reference/insteval_reference.R
## Writes tests/reference/insteval_reference.json.
##
## Each fit uses both tight controls of common.R (bobyqa, nloptwrap) from lme4's default
## start and keeps the lower criterion; both criteria are stored. The data are read back
## from mixedext/datasets/data/insteval.csv.gz (factors as labels).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
source(file.path("tests", "reference", "common.R"))

d <- read.csv(gzfile(file.path("mixedext", "datasets", "data", "insteval.csv.gz")),
              colClasses = c(s = "character", d = "character", studage = "character",
                             lectage = "character", service = "character",
                             dept = "character"))
for (v in c("s", "d", "studage", "lectage", "service", "dept")) d[[v]] <- factor(d[[v]])

models <- list(
  insteval_2 = "y ~ service + (1 | s) + (1 | d)",
  insteval_3 = "y ~ service + (1 | s) + (1 | d) + (1 | dept)"
)
cases <- list()
for (name in names(models)) {
  for (reml in c(TRUE, FALSE)) {
    fits <- lapply(lmer_tight_controls(), function(ctrl)
      lmer(as.formula(models[[name]]), data = d, REML = reml, control = ctrl))
    crit <- sapply(fits, function(m) -2 * as.numeric(logLik(m)))
    m <- fits[[which.min(crit)]]
    cases[[length(cases) + 1]] <- list(
      case = name, formula = models[[name]], reml = reml, nobs = nobs(m),
      logLik = as.numeric(logLik(m)), optimizer_minus2logLik = as.list(crit),
      fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(as.matrix(vcov(m))))),
      theta = unname(getME(m, "theta")), theta_names = names(getME(m, "theta")),
      sigma = sigma(m), varcorr = varcorr_rows(m))
    cat(sprintf("%s REML=%s logLik %.6f (bobyqa %.8f, nloptwrap %.8f)\n", name, reml,
                as.numeric(logLik(m)), crit[1], crit[2]))
  }
}
write_reference(list(meta = c(package_versions(c("lme4", "Matrix")),
                              date = as.character(Sys.Date())),
                     cases = cases),
                file.path("tests", "reference", "insteval_reference.json"))
