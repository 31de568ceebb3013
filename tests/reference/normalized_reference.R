## nlme's normalized and Pearson residuals of fits with residual covariance structures
## (mixedext's results.resid_normalized and results.resid_pearson).
##
## Run from the repository root (after make_cov_data.py):
##     Rscript tests/reference/normalized_reference.R
## Writes tests/reference/normalized_reference.json.
##
## The models are those of nlme_reference.R (same data, same calls, same tight
## controls), by REML, plus lme without a residual structure (sleepstudy, random slope).
## Each is fitted with both optimizers (nlminb, optim) from nlme's default start; the
## higher log-likelihood is restarted with both optimizers from its own estimates (the
## fitted reStruct / corStruct / varStruct passed as initial values) while that gains
## more than 1e-11 (at most 5 rounds). Stored per row, in the data's row order:
##   normalized  resid(fit, type = "normalized"): level-1 (conditional) residuals / sigma,
##               premultiplied within each unit by the inverse transposed Cholesky
##               factor of its residual correlation and divided by the variance
##               function (for lme: the innermost level);
##   pearson     resid(fit, type = "pearson"): residual / (sigma * SD ratio);
##   response    resid(fit, type = "response").
## nlme's normalized residuals assume the rows grouped by unit: for data not sorted by
## the correlation's grouping, resid(type = "normalized") applies each unit's factor to
## the rows at that unit's positions in the *sorted* data, mixing units (nlme 3.1-162).
## So each data set is first sorted by its unit, stably (within a unit the data's row
## order stays); `row` gives each stored row's 0-based row in the CSV.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

sim_dir <- file.path("tests", "reference", "data")
classic_dir <- file.path("mixedext", "datasets", "data")
out_file <- file.path("tests", "reference", "normalized_reference.json")

lme_ctrl <- function(opt, niterEM = 100)
  lmeControl(msMaxIter = 500, maxIter = 500, tolerance = 1e-10, msTol = 1e-12,
             niterEM = niterEM, opt = opt)
gls_ctrl <- function(opt, niterEM = 0)
  glsControl(tolerance = 1e-10, msTol = 1e-12, msMaxIter = 500, maxIter = 500, opt = opt)
optimizers <- c("nlminb", "optim")

sim <- function(file) file.path(sim_dir, file)
cases <- list(
  ar1_ri = list(fun = lme, fixed = y ~ t + trt + x, random = ~ 1 | subject,
                correlation = quote(corAR1(form = ~ t | subject)), weights = NULL,
                data = sim("panel_ar1.csv"), factors = "subject", unit = "subject"),
  ovary_ar1 = list(fun = lme, fixed = follicles ~ sin(2*pi*Time) + cos(2*pi*Time),
                   random = ~ 1 | Mare, correlation = quote(corAR1(form = ~ visit | Mare)),
                   weights = NULL, data = sim("ovary_visits.csv"), factors = "Mare", unit = "Mare"),
  car1_ri = list(fun = lme, fixed = y ~ time, random = ~ 1 | subject,
                 correlation = quote(corCAR1(form = ~ time | subject)), weights = NULL,
                 data = sim("panel_car1.csv"), factors = "subject", unit = "subject"),
  ar1_gls = list(fun = gls, fixed = y ~ t + trt + x, random = NULL,
                 correlation = quote(corAR1(form = ~ t | subject)), weights = NULL,
                 data = sim("panel_ar1.csv"), factors = "subject", unit = "subject"),
  cs_gls = list(fun = gls, fixed = y ~ t, random = NULL,
                correlation = quote(corCompSymm(form = ~ 1 | subject)), weights = NULL,
                data = sim("panel_cs.csv"), factors = "subject", unit = "subject"),
  un_gls = list(fun = gls, fixed = y ~ t + grp, random = NULL,
                correlation = quote(corSymm(form = ~ t | subject)),
                weights = quote(varIdent(form = ~ 1 | t)),
                data = sim("panel_un.csv"), factors = "subject", unit = "subject"),
  orthodont_un = list(fun = gls, fixed = distance ~ age + Sex, random = NULL,
                      correlation = quote(corSymm(form = ~ 1 | Subject)),
                      weights = quote(varIdent(form = ~ 1 | age)),
                      data = file.path(classic_dir, "orthodont.csv"),
                      factors = c("Subject", "Sex"), unit = "Subject"),
  varident_ri = list(fun = lme, fixed = y ~ x, random = ~ 1 | cluster, correlation = NULL,
                     weights = quote(varIdent(form = ~ 1 | site)),
                     data = sim("hetvar.csv"), factors = "cluster", unit = "cluster"),
  sleepstudy_lme = list(fun = lme, fixed = Reaction ~ Days, random = ~ Days | Subject,
                        correlation = NULL, weights = NULL,
                        data = file.path(classic_dir, "sleepstudy.csv"),
                        factors = "Subject", unit = "Subject")
)

## one fit; `start` a previous fit whose structures serve as initial values
fit_one <- function(cs, d, opt, start = NULL) {
  is_lme <- identical(cs$fun, lme)
  args <- list(cs$fixed, data = d, method = "REML",
               control = if (is_lme) lme_ctrl(opt, if (is.null(start)) 100 else 0)
                         else gls_ctrl(opt))
  if (is_lme) args$random <- if (is.null(start)) cs$random else start$modelStruct$reStruct
  if (!is.null(cs$correlation))
    args$correlation <- if (is.null(start)) eval(cs$correlation)
                        else start$modelStruct$corStruct
  if (!is.null(cs$weights))
    args$weights <- if (is.null(start)) eval(cs$weights) else start$modelStruct$varStruct
  f <- quietly(do.call(cs$fun, args), errors = TRUE)
  list(model = f$value, msgs = f$msgs,
       llf = if (is.null(f$value)) -Inf else as.numeric(logLik(f$value)))
}

results <- list()
for (cname in names(cases)) {
  cs <- cases[[cname]]
  d <- read.csv(cs$data, stringsAsFactors = FALSE)
  for (f in cs$factors) d[[f]] <- factor(d[[f]])
  d$row <- seq_len(nrow(d)) - 1L
  d <- d[order(d[[cs$unit]], d$row), ]
  fits <- lapply(optimizers, function(o) fit_one(cs, d, o))
  best <- fits[[which.max(sapply(fits, `[[`, "llf"))]]
  rounds <- 0
  for (round in 1:5) {
    again <- lapply(optimizers, function(o) fit_one(cs, d, o, start = best$model))
    top <- again[[which.max(sapply(again, `[[`, "llf"))]]
    if (!(top$llf > best$llf + 1e-11)) break
    best <- top
    rounds <- round
  }
  m <- best$model
  results[[length(results) + 1]] <- list(
    case = cname, fun = if (identical(cs$fun, lme)) "lme" else "gls",
    call = squish(paste(deparse(m$call), collapse = " ")), data_file = cs$data,
    method = "REML", logLik = as.numeric(logLik(m)), sigma = m$sigma,
    restart_rounds = rounds, messages = I(best$msgs), unit = cs$unit,
    row = I(d$row),
    normalized = I(unname(as.numeric(resid(m, type = "normalized")))),
    pearson = I(unname(as.numeric(resid(m, type = "pearson")))),
    response = I(unname(as.numeric(resid(m, type = "response")))))
  cat(sprintf("%-15s llf=%.8f restarts=%d\n", cname, as.numeric(logLik(m)), rounds))
}

out <- list(
  meta = c(package_versions(c("nlme", "jsonlite")), list(
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/normalized_reference.R",
    controls = "as nlme_reference.R: lmeControl(msMaxIter = 500, maxIter = 500, tolerance = 1e-10, msTol = 1e-12, niterEM = 100, opt) / glsControl(tolerance = 1e-10, msTol = 1e-12, msMaxIter = 500, maxIter = 500, opt), both optimizers, restarts from the best estimates",
    notes = I(c(
      "normalized / pearson / response: resid(fit, type = ...) (lme: the innermost level, i.e. conditional on the predicted random effects) of the data sorted stably by `unit`; row: the 0-based CSV row of each (nlme's normalized residuals need rows grouped by unit).",
      "nlme's factors: corAR1 / corCAR1 / corARMA / corSymm the inverse transposed Cholesky factor of the unit's correlation (rows in data order); corCompSymm a Helmert-type factor (first row constant 1 / sqrt(n (1 + (n - 1) rho)), row i > 1: -1 / sqrt((1 - rho) (i - 1) i) before the diagonal, (i - 1) / sqrt((1 - rho) (i - 1) i) on it).",
      "Grouping columns are factors with sorted levels (factor()); Orthodont's Sex has levels Female, Male."
    ))
  )),
  cases = results)
write_reference(out, out_file)
cat("wrote", out_file, "\n")
