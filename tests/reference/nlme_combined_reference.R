## nlme reference fits for mixedext's correlation structures combined with variance
## functions: corExp over time + varPower, corGaus over 2-D coordinates + varExp, corExp
## with a nugget + varIdent, corARMA(1, 1) + varPower and Toeplitz (corARMA(p = 5)) +
## varIdent, with a random intercept (lme) and without (gls).
##
## Run from the repository root:
##     python tests/reference/make_combined_data.py
##     Rscript tests/reference/nlme_combined_reference.R
## Writes tests/reference/nlme_combined_reference.json.
##
## Optimisation: every case and method (REML, ML) is fitted with nlme's two optimizers
## (opt = "nlminb", "optim") under tight controls, from nlme's default start and from the
## correlation starting values listed per case (the variance function from nlme's start);
## the fit with the highest log-likelihood is restarted with both optimizers from its own
## estimates (its fitted reStruct / corStruct / varStruct; lme: niterEM = 0) while a
## restart gains more than 1e-9 (at most 5 rounds). The best fit is stored, with the gain
## of the best fit over nlme's default start.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

sim_dir <- file.path("tests", "reference", "data")
out_file <- file.path("tests", "reference", "nlme_combined_reference.json")

lme_ctrl <- function(opt, niterEM = 50)
  lmeControl(msMaxIter = 1000, maxIter = 1000, tolerance = 1e-11, msTol = 1e-13,
             niterEM = niterEM, opt = opt, returnObject = TRUE)
gls_ctrl <- function(opt)
  glsControl(tolerance = 1e-11, msTol = 1e-13, msMaxIter = 1000, maxIter = 1000, opt = opt,
             returnObject = TRUE)
optimizers <- c("nlminb", "optim")

## A case: the fixed formula, the correlation constructor as a template whose "%s" takes
## "value = c(...), " (or "" for nlme's default start), the variance function, its data,
## the unit and position columns, starts of the correlation, and lme / gls.
irr <- "combined_irregular.csv"
plo <- "combined_plots.csv"
vis <- "combined_visits.csv"
base_cases <- list(
  exppow = list(fixed = "y_exppow ~ time + x", data = irr, unit = "subject", pos = "time",
                correlation = "corExp(%sform = ~ time | subject)",
                weights = "varPower(form = ~ v)", starts = list(0.5, 2, 5),
                funs = c("lme", "gls")),
  gausexp_2d = list(fixed = "y ~ x", data = plo, unit = "field", pos = c("cx", "cy"),
                    correlation = "corGaus(%sform = ~ cx + cy | field)",
                    weights = "varExp(form = ~ z)", starts = list(1, 3, 6), funs = "gls"),
  gausexp_2d_ri = list(fixed = "y_ri ~ x", data = plo, unit = "field", pos = c("cx", "cy"),
                       correlation = "corGaus(%sform = ~ cx + cy | field)",
                       weights = "varExp(form = ~ z)", starts = list(1, 3, 6), funs = "lme"),
  expnugid = list(fixed = "y_nugid ~ time + x", data = irr, unit = "subject", pos = "time",
                  correlation = "corExp(%sform = ~ time | subject, nugget = TRUE)",
                  weights = "varIdent(form = ~ 1 | g)",
                  starts = list(c(1, 0.2), c(2, 0.3), c(0.5, 0.1)), funs = c("lme", "gls")),
  armapow = list(fixed = "y_armapow ~ visit + x", data = vis, unit = "subject", pos = "visit",
                 correlation = "corARMA(%sform = ~ visit | subject, p = 1, q = 1)",
                 weights = "varPower(form = ~ v)",
                 starts = list(c(0.5, 0.2), c(0.3, -0.2), c(0.8, 0.1)),
                 funs = c("lme", "gls")),
  ## Toeplitz over visits 1..6 (lags 1..5) = corARMA(p = 5): free autocorrelations; a
  ## random intercept on top is not identified (only the gls model)
  toepid = list(fixed = "y_toepid ~ visit + x", data = vis, unit = "subject", pos = "visit",
                correlation = "corARMA(%sform = ~ visit | subject, p = 5, q = 0)",
                weights = "varIdent(form = ~ 1 | g)",
                starts = list(c(0.5, 0, 0, 0, 0), c(0.3, 0.2, 0.1, 0, 0)), funs = "gls")
)

cases <- list()
for (name in names(base_cases)) {
  b <- base_cases[[name]]
  for (fun in b$funs) {
    key <- if (length(b$funs) == 1) name else paste0(name, if (fun == "lme") "_ri" else "_gls")
    cases[[key]] <- c(b, list(fun = fun,
                              random = if (fun == "lme") sprintf("~ 1 | %s", b$unit)))
  }
}

value_text <- function(v)
  if (is.null(v)) "" else sprintf("value = c(%s), ",
                                  paste(format(v, digits = 17), collapse = ", "))

call_text <- function(cs, method, value = NULL) {
  args <- c(cs$fixed,
            if (!is.null(cs$random)) paste("random =", cs$random),
            paste("correlation =", sprintf(cs$correlation, value_text(value))),
            paste("weights =", cs$weights),
            "data = d", sprintf("method = \"%s\"", method), "control = ctrl")
  sprintf("%s(%s)", cs$fun, paste(args, collapse = ", "))
}

## one fit from nlme's start (value: the correlation's), or from `start`, a previous fit
## whose reStruct / corStruct / varStruct serve as initial values
fit_one <- function(cs, d, method, opt, value = NULL, start = NULL) {
  env <- new.env(parent = globalenv())
  env$d <- d
  env$ctrl <- if (cs$fun == "lme") lme_ctrl(opt, if (is.null(start)) 50 else 0)
              else gls_ctrl(opt)
  text <- call_text(cs, method, value)
  if (!is.null(start)) {
    env$start_cor <- start$modelStruct$corStruct
    env$start_var <- start$modelStruct$varStruct
    text <- sub("correlation = .*?\\), weights = .*?\\), data",
                "correlation = start_cor, weights = start_var, data", text, perl = TRUE)
    if (cs$fun == "lme") {
      env$start_re <- start$modelStruct$reStruct
      text <- sub("random = [^,]*,", "random = start_re,", text)
    }
  }
  out <- quietly(eval(parse(text = text), envir = env), errors = TRUE)
  m <- out$value
  list(model = m, msgs = out$msgs, opt = opt, start = value,
       llf = if (is.null(m)) -Inf else as.numeric(logLik(m)))
}

best_fit <- function(cs, d, method) {
  fits <- list()
  for (opt in optimizers) {
    fits[[length(fits) + 1]] <- fit_one(cs, d, method, opt)
    for (s in cs$starts) fits[[length(fits) + 1]] <- fit_one(cs, d, method, opt, s)
  }
  llfs <- sapply(fits, `[[`, "llf")
  default_llf <- max(llfs[1], llfs[length(cs$starts) + 2])
  best <- fits[[which.max(llfs)]]
  rounds <- 0
  for (round in 1:5) {
    again <- lapply(optimizers, function(opt) fit_one(cs, d, method, opt, start = best$model))
    gains <- sapply(again, `[[`, "llf") - best$llf
    fits <- c(fits, again)
    if (!(max(gains) > 1e-9)) break
    best <- again[[which.max(gains)]]
    rounds <- round
  }
  all_llf <- sapply(fits, `[[`, "llf")
  list(best = best, default_llf = default_llf, all_llf = all_llf, rounds = rounds)
}

## the correlation's parameters in mixedext's names: range, nugget; phi1, theta1; for
## Toeplitz (corARMA(p = 5)) the lag correlations rho1..rho5 (ARMAacf)
cor_params <- function(m, toeplitz = FALSE) {
  p <- coef(m$modelStruct$corStruct, unconstrained = FALSE)
  if (toeplitz)
    return(setNames(unname(ARMAacf(ar = p, lag.max = length(p))[-1]),
                    paste0("rho", seq_along(p))))
  setNames(unname(p), tolower(names(p)))
}

## the variance function's parameters in mixedext's names: power, expon,
## sd_ratio[level] (varIdent, the reference level 1 included)
var_params <- function(vf) {
  cls <- class(vf)[1]
  p <- coef(vf, unconstrained = FALSE, allCoef = cls == "varIdent")
  nm <- switch(cls, varIdent = paste0("sd_ratio[", names(p), "]"), varPower = "power",
               varExp = "expon", stop("unknown varFunc ", cls))
  setNames(unname(p), nm)
}

extract <- function(cs, m, d) {
  fe <- if (cs$fun == "lme") fixef(m) else coef(m)
  V <- as.matrix(vcov(m))
  unit1 <- sort(unique(as.character(d[[cs$unit]])))[1]
  rows1 <- which(as.character(d[[cs$unit]]) == unit1)
  S <- if (cs$fun == "lme") getVarCov(m, individuals = unit1, type = "conditional")[[1]]
       else getVarCov(m, individual = unit1)
  cp <- cor_params(m, toeplitz = grepl("p = 5", cs$correlation))
  vp <- var_params(m$modelStruct$varStruct)
  sigma <- m$sigma
  ref <- paste0("sd_ratio[", sort(levels(d$g))[1], "]")
  if (ref %in% names(vp)) {  # nlme's reference level is the first in the data's order
    sigma <- sigma * vp[[ref]]
    vp <- vp / vp[[ref]]
  }
  list(
    nobs = nobs(m),
    logLik = as.numeric(logLik(m)),
    AIC = AIC(m), BIC = BIC(m),
    fixef_names = I(names(fe)),
    fixef = I(unname(fe)),
    fixef_se = I(unname(sqrt(diag(V)))),
    sigma = sigma,
    re_sd = if (cs$fun == "lme")
      sqrt(as.matrix(getVarCov(m, type = "random.effects"))[1, 1]) else NA,
    cor_params = as.list(cp),
    var_params = as.list(vp),
    resid_normalized = I(unname(as.numeric(resid(m, type = "normalized")))),
    residual_cov = list(unit = unit1, rows = I(rows1 - 1L),
                        matrix = matrix(as.numeric(S), nrow(S)))
  )
}

results <- list()
for (name in names(cases)) {
  cs <- cases[[name]]
  d <- read.csv(file.path(sim_dir, cs$data), stringsAsFactors = FALSE)
  d[[cs$unit]] <- factor(d[[cs$unit]])
  d$g <- if ("g" %in% names(d)) factor(d$g) else NULL
  for (method in c("REML", "ML")) {
    t0 <- proc.time()[["elapsed"]]
    fit <- best_fit(cs, d, method)
    m <- fit$best$model
    rec <- c(list(case = name, method = method, fun = cs$fun,
                  call = call_text(cs, method, NULL),
                  data_file = file.path("tests", "reference", "data", cs$data),
                  optimizer = fit$best$opt, restart_rounds = fit$rounds,
                  best_minus_default_start = fit$best$llf - fit$default_llf,
                  n_fits = length(fit$all_llf),
                  fits_within_1e_6 = sum(fit$all_llf > fit$best$llf - 1e-6),
                  warnings = I(fit$best$msgs)),
             extract(cs, m, d))
    results[[length(results) + 1]] <- rec
    cat(sprintf("%-16s %-4s logLik %.6f  %s | %s  (gain over default %.2e, %.1fs)\n",
                name, method, rec$logLik,
                paste(sprintf("%s=%.4g", names(rec$cor_params), unlist(rec$cor_params)),
                      collapse = " "),
                paste(sprintf("%s=%.4g", names(rec$var_params), unlist(rec$var_params)),
                      collapse = " "),
                rec$best_minus_default_start, proc.time()[["elapsed"]] - t0))
  }
}

out <- list(
  meta = c(package_versions(c("nlme", "jsonlite")), list(
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/nlme_combined_reference.R",
    controls = list(
      lme = "lmeControl(msMaxIter = 1000, maxIter = 1000, tolerance = 1e-11, msTol = 1e-13, niterEM = 50 (restarts: 0), opt = <optimizer>)",
      gls = "glsControl(tolerance = 1e-11, msTol = 1e-13, msMaxIter = 1000, maxIter = 1000, opt = <optimizer>)",
      optimizers = I(optimizers),
      restart = "both optimizers from the best fit's reStruct / corStruct / varStruct while a restart gains > 1e-9 (at most 5 rounds)"),
    notes = I(c(
      "logLik: REML log-likelihood under method = 'REML' (nlme's convention).",
      "cor_params: coef(corStruct, unconstrained = FALSE) in mixedext's names: range, nugget (corExp, corGaus), phi1, theta1 (corARMA); toepid: the lag correlations rho1..rho5 of the fitted corARMA(p = 5), ARMAacf(ar = Phi, lag.max = 5)[-1].",
      "var_params: coef(varStruct, unconstrained = FALSE, allCoef = TRUE for varIdent): power (varPower), expon (varExp), sd_ratio[level] (varIdent); the varIdent ratios divided by that of the first level in sorted order (A, mixedext's reference; nlme's is the first level in the data's order) and sigma multiplied by it (the same model).",
      "resid_normalized: resid(fit, type = 'normalized') in the CSV's row order (sorted by unit, position).",
      "residual_cov: getVarCov(fit, individual(s) = first unit (, type = 'conditional' for lme)): sigma^2 S C S over that unit's rows (0-based CSV rows in 'rows').",
      "Grouping columns are factors with sorted levels (factor())."
    ))
  )),
  cases = results
)
write_reference(out, out_file)
cat("wrote", out_file, "\n")
