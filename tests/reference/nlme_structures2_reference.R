## nlme reference fits for mixedext's spatial / continuous-time correlations
## (cov_struct = "exp" | "gaus" | "lin" | "ratio" | "spher", time= or coords=, nugget=),
## ARMA(p, q) ("arma(p,q)"), Toeplitz ("toeplitz", compared with corARMA(p = K)) and
## heterogeneous AR(1) (cov_struct = "ar1" with het_var = the time column: corAR1 +
## varIdent(~ 1 | t)), each with a random intercept (lme) and without one (gls).
##
## Run from the repository root, after make_structures2_data.py:
##     python tests/reference/make_structures2_data.py
##     Rscript tests/reference/nlme_structures2_reference.R
## Writes tests/reference/nlme_structures2_reference.json.
##
## Optimisation: every case and method (REML, ML) is fitted with nlme's two optimizers
## (opt = "nlminb", "optim") under tight controls, from nlme's default start and from the
## starting values listed per case (correlation parameters); the fit with the highest
## log-likelihood is restarted with both optimizers from its estimates until no restart
## gains more than 1e-9 (at most 4 rounds). The best fit is stored, with the spread of the
## log-likelihoods of all fits (best_minus_default_start).

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

sim_dir <- file.path("tests", "reference", "data")
out_file <- file.path("tests", "reference", "nlme_structures2_reference.json")

lme_ctrl <- function(opt)
  lmeControl(msMaxIter = 1000, maxIter = 1000, tolerance = 1e-11, msTol = 1e-13,
             niterEM = 50, opt = opt, returnObject = TRUE)
gls_ctrl <- function(opt)
  glsControl(tolerance = 1e-11, msTol = 1e-13, msMaxIter = 1000, maxIter = 1000, opt = opt,
             returnObject = TRUE)

## A case: fixed/random formulas, the correlation constructor as a template whose "%s" takes
## "value = c(...), " (or "" for nlme's default start), optional weights, its data, the
## grouping and the position columns; `starts`: extra initial values of the correlation.
irr <- "panel_irregular.csv"
spa <- "spatial_plots.csv"
vis <- "panel_visits.csv"
spatial_case <- function(ctor, data, fixed, unit, pos, nugget = FALSE, starts = list())
  list(fixed = fixed, ctor = ctor,
       correlation = sprintf("%s(%%sform = ~ %s | %s%s)", ctor,
                             paste(pos, collapse = " + "), unit,
                             if (nugget) ", nugget = TRUE" else ""),
       data = data, unit = unit, pos = pos, starts = starts)
base_cases <- list(
  exp = spatial_case("corExp", irr, "y ~ time + x", "subject", "time",
                     starts = list(0.5, 2, 5)),
  gaus = spatial_case("corGaus", irr, "y ~ time + x", "subject", "time",
                      starts = list(0.5, 2, 5)),
  spher = spatial_case("corSpher", irr, "y ~ time + x", "subject", "time",
                       starts = list(0.5, 2, 5)),
  lin = spatial_case("corLin", irr, "y ~ time + x", "subject", "time",
                     starts = list(0.5, 2, 5)),
  ## gls of the irregular panel with corRatio runs the range off to infinity (1.9e8),
  ## where the correlation matrix is numerically singular: lme only (gls: ratio_2d)
  ratio = c(spatial_case("corRatio", irr, "y ~ time + x", "subject", "time",
                         starts = list(0.5, 2, 5)), list(funs = "lme")),
  exp_nugget = spatial_case("corExp", irr, "y ~ time + x", "subject", "time", TRUE,
                            starts = list(c(1, 0.2), c(3, 0.3), c(0.5, 0.05))),
  gaus_nugget = spatial_case("corGaus", irr, "y ~ time + x", "subject", "time", TRUE,
                             starts = list(c(1, 0.2), c(3, 0.3))),
  exp_2d = spatial_case("corExp", spa, "y ~ x", "field", c("cx", "cy"),
                        starts = list(1, 3, 6)),
  gaus_2d = spatial_case("corGaus", spa, "y ~ x", "field", c("cx", "cy"),
                         starts = list(1, 3, 6)),
  ratio_2d = spatial_case("corRatio", spa, "y ~ x", "field", c("cx", "cy"),
                          starts = list(1, 3, 6)),
  spher_nugget_2d = spatial_case("corSpher", spa, "y ~ x", "field", c("cx", "cy"), TRUE,
                                 starts = list(c(3, 0.2), c(5, 0.3), c(8, 0.1))),
  arma11 = list(fixed = "y ~ visit + x", ctor = "corARMA",
                correlation = "corARMA(%sform = ~ visit | subject, p = 1, q = 1)",
                data = vis, unit = "subject", pos = "visit",
                starts = list(c(0.5, 0.2), c(0.3, -0.2), c(0.8, 0.1))),
  arma20 = list(fixed = "y ~ visit + x", ctor = "corARMA",
                correlation = "corARMA(%sform = ~ visit | subject, p = 2, q = 0)",
                data = vis, unit = "subject", pos = "visit",
                starts = list(c(0.5, 0.1), c(0.3, 0.3))),
  ## Toeplitz over visits 1..6 (lags 1..5) = corARMA(p = 5): free autocorrelations
  toeplitz = list(fixed = "y ~ visit + x", ctor = "corARMA",
                  correlation = "corARMA(%sform = ~ visit | subject, p = 5, q = 0)",
                  data = vis, unit = "subject", pos = "visit",
                  starts = list(c(0.5, 0, 0, 0, 0), c(0.3, 0.2, 0.1, 0, 0))),
  hetar1 = list(fixed = "y_het ~ visit + x", ctor = "corAR1",
                correlation = "corAR1(%sform = ~ visit | subject)",
                weights = "varIdent(form = ~ 1 | visit)",
                data = vis, unit = "subject", pos = "visit", starts = list(0.3, 0.7))
)

cases <- list()
for (name in names(base_cases)) {
  b <- base_cases[[name]]
  funs <- if (is.null(b$funs)) c("lme", "gls") else b$funs
  if ("lme" %in% funs)
    cases[[paste0(name, "_ri")]] <- c(b, list(fun = "lme",
                                              random = sprintf("~ 1 | %s", b$unit)))
  if ("gls" %in% funs)
    cases[[paste0(name, "_gls")]] <- c(b, list(fun = "gls", random = NULL))
}

value_text <- function(v)
  if (is.null(v)) "" else sprintf("value = c(%s), ",
                                  paste(format(v, digits = 17), collapse = ", "))

call_text <- function(cs, method, value = NULL) {
  args <- c(cs$fixed,
            if (!is.null(cs$random)) paste("random =", cs$random),
            paste("correlation =", sprintf(cs$correlation, value_text(value))),
            if (!is.null(cs$weights)) paste("weights =", cs$weights),
            "data = d", sprintf("method = \"%s\"", method), "control = ctrl")
  sprintf("%s(%s)", cs$fun, paste(args, collapse = ", "))
}

fit_one <- function(cs, d, method, opt, value = NULL) {
  env <- new.env(parent = globalenv())
  env$d <- d
  env$ctrl <- if (cs$fun == "lme") lme_ctrl(opt) else gls_ctrl(opt)
  out <- quietly(eval(parse(text = call_text(cs, method, value)), envir = env),
                 errors = TRUE)
  m <- out$value
  list(model = m, msgs = out$msgs, opt = opt, start = value,
       llf = if (is.null(m)) -Inf else as.numeric(logLik(m)))
}

cor_params <- function(m) coef(m$modelStruct$corStruct, unconstrained = FALSE)

best_fit <- function(cs, d, method) {
  fits <- list()
  for (opt in c("nlminb", "optim")) {
    fits[[length(fits) + 1]] <- fit_one(cs, d, method, opt)
    for (s in cs$starts) fits[[length(fits) + 1]] <- fit_one(cs, d, method, opt, s)
  }
  llfs <- sapply(fits, `[[`, "llf")
  default_llf <- max(llfs[1], llfs[length(cs$starts) + 2])
  best <- fits[[which.max(llfs)]]
  for (round in 1:4) {
    again <- lapply(c("nlminb", "optim"), function(opt)
      fit_one(cs, d, method, opt, unname(cor_params(best$model))))
    gains <- sapply(again, `[[`, "llf") - best$llf
    fits <- c(fits, again)
    if (max(gains) <= 1e-9) break
    best <- again[[which.max(gains)]]
  }
  all_llf <- sapply(fits, `[[`, "llf")
  list(best = best, default_llf = default_llf, all_llf = all_llf)
}

extract <- function(cs, m, d) {
  fe <- if (cs$fun == "lme") fixef(m) else coef(m)
  V <- as.matrix(vcov(m))
  cst <- m$modelStruct$corStruct
  vs <- m$modelStruct$varStruct
  ## the first unit's correlation matrix (nlme's group order = sorted levels; rows in the
  ## data's order within the unit) and its positions
  unit1 <- sort(unique(as.character(d[[cs$unit]])))[1]
  rows1 <- which(as.character(d[[cs$unit]]) == unit1)
  out <- list(
    nobs = nobs(m),
    logLik = as.numeric(logLik(m)),
    AIC = AIC(m), BIC = BIC(m),
    fixef_names = I(names(fe)),
    fixef = I(unname(fe)),
    fixef_se = I(unname(sqrt(diag(V)))),
    sigma = m$sigma,
    cor_param_names = I(names(cor_params(m))),
    cor_params = I(unname(cor_params(m))),
    min_dist = if (is.null(attr(cst, "minD"))) NA else attr(cst, "minD"),
    varident_levels = if (is.null(vs)) NA else
      I(names(coef(vs, unconstrained = FALSE, allCoef = TRUE))),
    varident_ratios = if (is.null(vs)) NA else
      I(unname(coef(vs, unconstrained = FALSE, allCoef = TRUE))),
    intervals_95 = ci_rows(m),
    unit1 = unit1,
    unit1_positions = unname(as.matrix(d[rows1, cs$pos, drop = FALSE])),
    unit1_corr = unname(corMatrix(cst)[[unit1]]),
    resid_normalized = I(unname(as.numeric(resid(m, type = "normalized"))))
  )
  if (cs$fun == "lme") {
    D <- unname(as.matrix(getVarCov(m, type = "random.effects")))
    out$re_sd <- sqrt(D[1, 1])
  } else out$re_sd <- NA
  if (cs$ctor == "corARMA")
    out$lag_correlations <- I(unname(ARMAacf(
      ar = cor_params(m)[grepl("^Phi", names(cor_params(m)))],
      ma = cor_params(m)[grepl("^Theta", names(cor_params(m)))],
      lag.max = 5)[-1]))
  out
}

results <- list()
for (name in names(cases)) {
  cs <- cases[[name]]
  d <- read.csv(file.path(sim_dir, cs$data), stringsAsFactors = FALSE)
  d[[cs$unit]] <- factor(d[[cs$unit]])
  for (method in c("REML", "ML")) {
    t0 <- proc.time()[["elapsed"]]
    fit <- best_fit(cs, d, method)
    m <- fit$best$model
    rec <- c(list(case = name, method = method, fun = cs$fun,
                  call = call_text(cs, method, NULL),
                  data_file = file.path("tests", "reference", "data", cs$data),
                  optimizer = fit$best$opt,
                  best_minus_default_start = fit$best$llf - fit$default_llf,
                  n_fits = length(fit$all_llf),
                  fits_within_1e_6 = sum(fit$all_llf > fit$best$llf - 1e-6),
                  warnings = I(fit$best$msgs)),
             extract(cs, m, d))
    results[[length(results) + 1]] <- rec
    cat(sprintf("%-22s %-4s logLik %.6f  %s  (gain over default %.2e, %.1fs)\n", name,
                method, rec$logLik,
                paste(sprintf("%s=%.4g", rec$cor_param_names, rec$cor_params), collapse = " "),
                rec$best_minus_default_start, proc.time()[["elapsed"]] - t0))
  }
}

out <- list(
  meta = c(package_versions(c("nlme", "jsonlite")), list(
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/nlme_structures2_reference.R",
    controls = list(
      lme = "lmeControl(msMaxIter = 1000, maxIter = 1000, tolerance = 1e-11, msTol = 1e-13, niterEM = 50, opt = <optimizer>)",
      gls = "glsControl(tolerance = 1e-11, msTol = 1e-13, msMaxIter = 1000, maxIter = 1000, opt = <optimizer>)"),
    notes = I(c(
      "logLik: REML log-likelihood under method = 'REML' (nlme's convention).",
      "cor_params: coef(corStruct, unconstrained = FALSE): range (and nugget) for corSpatial, Phi1.., Theta1.. for corARMA, Phi for corAR1.",
      "min_dist: attr(corStruct, 'minD'), the smallest within-unit distance (corLin / corSpher: range > minD).",
      "toeplitz_*: corARMA(p = 5) over visits 1..6 (an AR(5) has free autocorrelations at lags 1..5); lag_correlations = ARMAacf(ar = Phi, lag.max = 5)[-1].",
      "unit1_corr: corMatrix(corStruct) of the first unit (sorted levels), rows in data order; unit1_positions: its positions.",
      "resid_normalized: resid(fit, type = 'normalized') in the data's row order (the data are sorted by unit).",
      "intervals_95: intervals(fit, which = 'var-cov'), corStruct / varStruct rows and sigma."
    ))
  )),
  cases = results
)
write_reference(out, out_file)
cat("wrote", out_file, "\n")
