## nlme reference fits for the main models of notebooks/11_residual_structures.ipynb:
## BodyWeight (random intercept and slope per rat) with independent, corExp, corCAR1 and
## corExp + nugget residuals over Time; the simulated assay with varPower, varExp,
## varConstPower, varConstPower per analyzer and varIdent x varPower (and varIdent x
## varConstPower); the simulated field plots (gls) with corExp, corGaus, corSpher over
## 2-D coordinates with a nugget, and corSpher without; Orthodont (gls) with
## corCompSymm, corAR1, corARMA(1, 1) and corARMA(p = 3) (the Toeplitz model) over visits
## 1..4. All by REML (the notebook compares structures with the same fixed effects).
##
## Run from the repository root:
##     python tests/reference/make_tutorial_structures_data.py
##     Rscript tests/reference/tutorial_structures_reference.R
## Writes tests/reference/tutorial_structures_reference.json.
##
## Optimisation: each case is fitted with nlme's two optimizers (opt = "nlminb", "optim")
## under tight controls, from nlme's default start and from the correlation starts listed
## per case; the fit with the highest log-likelihood is restarted with both optimizers
## from its own estimates (reStruct / corStruct / varStruct; lme: niterEM = 0) while a
## restart gains more than 1e-9 (at most 5 rounds). The best fit is stored, with its gain
## over the best fit from nlme's default start.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

classic_dir <- file.path("mixedext", "datasets", "data")
sim_dir <- file.path("tests", "reference", "data")
out_file <- file.path("tests", "reference", "tutorial_structures_reference.json")

lme_ctrl <- function(opt, niterEM = 50)
  lmeControl(msMaxIter = 1000, maxIter = 1000, tolerance = 1e-11, msTol = 1e-13,
             niterEM = niterEM, opt = opt, returnObject = TRUE)
gls_ctrl <- function(opt)
  glsControl(tolerance = 1e-11, msTol = 1e-13, msMaxIter = 1000, maxIter = 1000, opt = opt,
             returnObject = TRUE)
optimizers <- c("nlminb", "optim")

## the data sets: file, factors with their level order (NULL: sorted)
datasets <- list(
  bodyweight = list(file = file.path(classic_dir, "bodyweight.csv"),
                    factors = list(Rat = NULL, Diet = NULL)),
  assay = list(file = file.path(sim_dir, "tutorial_assay.csv"),
               factors = list(run = NULL, analyzer = NULL)),
  plots = list(file = file.path(sim_dir, "tutorial_plots.csv"),
               factors = list(field = NULL)),
  orthodont = list(file = file.path(classic_dir, "orthodont.csv"),
                   factors = list(Subject = NULL, Sex = c("Male", "Female")))
)

read_data <- function(name) {
  ds <- datasets[[name]]
  d <- read.csv(ds$file, stringsAsFactors = FALSE)
  for (f in names(ds$factors)) {
    lev <- ds$factors[[f]]
    d[[f]] <- if (is.null(lev)) factor(d[[f]]) else factor(d[[f]], levels = lev)
  }
  if (name == "orthodont") d$visit <- as.integer((d$age - 8) / 2 + 1)
  d
}

## A case: data, fun, fixed formula, random (lme), the correlation as a template whose
## "%s" takes "value = c(...), " (NULL: independent), the variance function (NULL: none),
## the correlation's parameter names in mixedext (nlme's order), starts of the
## correlation.
bw <- function(correlation, cor_names = character(0), starts = list())
  list(data = "bodyweight", fun = "lme", fixed = "weight ~ Time * Diet",
       random = "~ Time | Rat", correlation = correlation, weights = NULL,
       cor_names = cor_names, starts = starts)
assay <- function(weights)
  list(data = "assay", fun = "lme", fixed = "signal ~ conc", random = "~ 1 | run",
       correlation = NULL, weights = weights, cor_names = character(0), starts = list())
plots <- function(ctor, nugget, starts)
  list(data = "plots", fun = "gls", fixed = "grain ~ nitrogen", random = NULL,
       correlation = sprintf("%s(%%sform = ~ x + y | field%s)", ctor,
                             if (nugget) ", nugget = TRUE" else ""),
       weights = NULL, cor_names = c("range", if (nugget) "nugget"), starts = starts)
ortho <- function(correlation, cor_names, starts = list())
  list(data = "orthodont", fun = "gls", fixed = "distance ~ age * Sex", random = NULL,
       correlation = correlation, weights = NULL, cor_names = cor_names, starts = starts)

cases <- list(
  bw_independent = bw(NULL),
  bw_exp = bw("corExp(%sform = ~ Time | Rat)", "range", list(2, 10)),
  bw_car1 = bw("corCAR1(%sform = ~ Time | Rat)", "phi", list(0.5, 0.9)),
  bw_exp_nugget = bw("corExp(%sform = ~ Time | Rat, nugget = TRUE)", c("range", "nugget"),
                     list(c(5, 0.1), c(20, 0.2), c(2, 0.05))),
  assay_none = assay(NULL),
  assay_power = assay("varPower(form = ~ conc)"),
  assay_exp = assay("varExp(form = ~ conc)"),
  assay_constpower = assay("varConstPower(form = ~ conc)"),
  assay_constpower_by_analyzer = assay("varConstPower(form = ~ conc | analyzer)"),
  assay_ident_power = assay("varComb(varIdent(form = ~ 1 | analyzer), varPower(form = ~ conc))"),
  assay_ident_constpower = assay(
    "varComb(varIdent(form = ~ 1 | analyzer), varConstPower(form = ~ conc))"),
  plots_exp_nugget = plots("corExp", TRUE, list(c(10, 0.1), c(20, 0.3))),
  plots_gaus_nugget = plots("corGaus", TRUE, list(c(10, 0.1), c(20, 0.3))),
  plots_spher_nugget = plots("corSpher", TRUE, list(c(20, 0.1), c(40, 0.3))),
  plots_spher = plots("corSpher", FALSE, list(20, 40)),
  ortho_exchangeable = ortho("corCompSymm(%sform = ~ 1 | Subject)", "rho", list(0.3, 0.7)),
  ortho_ar1 = ortho("corAR1(%sform = ~ visit | Subject)", "rho", list(0.3, 0.7)),
  ortho_arma11 = ortho("corARMA(%sform = ~ visit | Subject, p = 1, q = 1)",
                       c("phi1", "theta1"), list(c(0.5, 0.2), c(0.9, -0.5))),
  ortho_toeplitz = ortho("corARMA(%sform = ~ visit | Subject, p = 3, q = 0)",
                         c("rho1", "rho2", "rho3"), list(c(0.5, 0.2, 0), c(0.3, 0.2, 0.1)))
)

value_text <- function(v)
  if (is.null(v)) "" else sprintf("value = c(%s), ",
                                  paste(format(v, digits = 17), collapse = ", "))

call_text <- function(cs, value = NULL, start = FALSE) {
  args <- c(cs$fixed,
            if (!is.null(cs$random))
              paste("random =", if (start) "start_re" else cs$random),
            if (!is.null(cs$correlation))
              paste("correlation =", if (start) "start_cor"
                                     else sprintf(cs$correlation, value_text(value))),
            if (!is.null(cs$weights))
              paste("weights =", if (start) "start_var" else cs$weights),
            "data = d", "method = \"REML\"", "control = ctrl")
  sprintf("%s(%s)", cs$fun, paste(args, collapse = ", "))
}

## one fit from nlme's start (value: the correlation's), or from `start`, a previous fit
## whose reStruct / corStruct / varStruct serve as initial values
fit_one <- function(cs, d, opt, value = NULL, start = NULL) {
  env <- new.env(parent = globalenv())
  env$d <- d
  env$ctrl <- if (cs$fun == "lme") lme_ctrl(opt, if (is.null(start)) 50 else 0)
              else gls_ctrl(opt)
  if (!is.null(start)) {
    env$start_re <- start$modelStruct$reStruct
    env$start_cor <- start$modelStruct$corStruct
    env$start_var <- start$modelStruct$varStruct
  }
  out <- quietly(eval(parse(text = call_text(cs, value, !is.null(start))), envir = env),
                 errors = TRUE)
  m <- out$value
  list(model = m, msgs = out$msgs, opt = opt,
       llf = if (is.null(m)) -Inf else as.numeric(logLik(m)))
}

best_fit <- function(cs, d) {
  fits <- list()
  for (opt in optimizers) fits[[length(fits) + 1]] <- fit_one(cs, d, opt)
  default_llf <- max(sapply(fits, `[[`, "llf"))
  for (opt in optimizers) for (s in cs$starts)
    fits[[length(fits) + 1]] <- fit_one(cs, d, opt, s)
  llfs <- sapply(fits, `[[`, "llf")
  best <- fits[[which.max(llfs)]]
  rounds <- 0
  for (round in 1:5) {
    again <- lapply(optimizers, function(opt) fit_one(cs, d, opt, start = best$model))
    gains <- sapply(again, `[[`, "llf") - best$llf
    fits <- c(fits, again)
    if (!(max(gains) > 1e-9)) break
    best <- again[[which.max(gains)]]
    rounds <- round
  }
  list(best = best, default_llf = default_llf, n_fits = length(fits), rounds = rounds)
}

## the correlation's parameters in mixedext's names (Toeplitz: the lag correlations of
## the fitted corARMA(p = 3), ARMAacf)
cor_params <- function(cs, m) {
  cst <- m$modelStruct$corStruct
  if (is.null(cst)) return(list())
  p <- coef(cst, unconstrained = FALSE)
  if (grepl("p = 3", cs$correlation))
    p <- ARMAacf(ar = p, lag.max = length(p))[-1]
  stopifnot(length(p) == length(cs$cor_names))
  as.list(setNames(unname(p), cs$cor_names))
}

extract <- function(cs, m, d) {
  fe <- if (cs$fun == "lme") fixef(m) else coef(m)
  V <- as.matrix(vcov(m))
  out <- list(
    nobs = nobs(m),
    logLik = as.numeric(logLik(m)),
    AIC = AIC(m), BIC = BIC(m),
    fixef_names = I(names(fe)),
    fixef = I(unname(fe)),
    fixef_se = I(unname(sqrt(diag(V)))),
    sigma = m$sigma,
    cor_params = cor_params(cs, m),
    var_params = if (is.null(m$modelStruct$varStruct)) list()
                 else as.list(vf_params(m$modelStruct$varStruct)),
    intervals_95 = if (is.null(cs$correlation) && is.null(cs$weights)) NA else ci_rows(m),
    resid_normalized = I(unname(as.numeric(resid(m, type = "normalized"))))
  )
  if (cs$fun == "lme") {
    D <- unname(as.matrix(getVarCov(m, type = "random.effects")))
    out$re_sd <- I(sqrt(diag(D)))
    out$re_corr <- if (nrow(D) > 1) D[1, 2] / sqrt(D[1, 1] * D[2, 2]) else NA
  }
  out
}

results <- list()
for (name in names(cases)) {
  cs <- cases[[name]]
  d <- read_data(cs$data)
  t0 <- proc.time()[["elapsed"]]
  fit <- best_fit(cs, d)
  m <- fit$best$model
  rec <- c(list(case = name, data = cs$data, fun = cs$fun, method = "REML",
                call = call_text(cs), optimizer = fit$best$opt,
                restart_rounds = fit$rounds,
                best_minus_default_start = fit$best$llf - fit$default_llf,
                n_fits = fit$n_fits, warnings = I(fit$best$msgs)),
           extract(cs, m, d))
  results[[name]] <- rec
  cat(sprintf("%-30s logLik %.6f AIC %.3f  %s %s (gain over default %.2e, %.1fs)\n",
              name, rec$logLik, rec$AIC,
              paste(sprintf("%s=%.4g", names(rec$cor_params), unlist(rec$cor_params)),
                    collapse = " "),
              paste(sprintf("%s=%.4g", names(rec$var_params), unlist(rec$var_params)),
                    collapse = " "),
              rec$best_minus_default_start, proc.time()[["elapsed"]] - t0))
}

out <- list(
  meta = c(package_versions(c("nlme", "jsonlite")), list(
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/tutorial_structures_reference.R",
    data = lapply(datasets, `[[`, "file"),
    controls = list(
      lme = "lmeControl(msMaxIter = 1000, maxIter = 1000, tolerance = 1e-11, msTol = 1e-13, niterEM = 50 (restarts: 0), opt = <optimizer>)",
      gls = "glsControl(tolerance = 1e-11, msTol = 1e-13, msMaxIter = 1000, maxIter = 1000, opt = <optimizer>)",
      optimizers = I(optimizers),
      restart = "both optimizers from the best fit's reStruct / corStruct / varStruct while a restart gains > 1e-9 (at most 5 rounds)"),
    notes = I(c(
      "logLik: the REML log-likelihood (method = 'REML'); AIC, BIC from it.",
      "cor_params: coef(corStruct, unconstrained = FALSE) in mixedext's names (range, nugget; phi for corCAR1; rho for corCompSymm and corAR1; phi1, theta1 for corARMA(1, 1)); ortho_toeplitz: the lag correlations rho1..rho3 of the fitted corARMA(p = 3), ARMAacf(ar = Phi, lag.max = 3)[-1].",
      "var_params: coef(varStruct, unconstrained = FALSE) in mixedext's names: power, expon, const, const[A] / power[A] per level, sd_ratio[level] (varIdent, allCoef = TRUE; nlme's reference level, the first in the data's order, is A); varComb: its components in order.",
      "re_sd, re_corr (lme): SDs of the random effects (BodyWeight: intercept, Time) and their correlation, from getVarCov(fit, type = 'random.effects').",
      "intervals_95: intervals(fit, which = 'var-cov') rows of corStruct and varStruct (nlme's names) and sigma.",
      "resid_normalized: resid(fit, type = 'normalized') in the CSV's row order (each CSV is sorted by unit).",
      "Orthodont: visit = (age - 8) / 2 + 1; Sex with levels Male, Female (nlme's order), so the fixed effects are SexFemale, age:SexFemale."
    ))
  )),
  cases = unname(results)
)
write_reference(out, out_file)
cat("wrote", out_file, "\n")
