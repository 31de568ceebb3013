## nlme reference fits for mixedext's variance functions (variance = "power(v)", "exp(z)",
## "constpower(v)", "power(v | g)", "ident(g) * power(v)"), alone and with a correlation
## structure, with a random intercept (lme) and without (gls).
##
## Run from the repository root:
##     python tests/reference/make_varfunc_data.py
##     Rscript tests/reference/nlme_varfunc_reference.R
## Writes tests/reference/nlme_varfunc_reference.json.
##
## Every case is fitted by REML and by ML, each with nlme's two optimizers (nlminb, optim)
## from nlme's default start under tight controls; the higher log-likelihood is restarted
## with both optimizers from its own estimates (the fitted reStruct / corStruct /
## varStruct as initial values, niterEM = 0) while that gains more than 1e-11 (at most 5
## rounds). Stored per case: logLik, AIC, BIC, fixed effects and SEs, sigma, the random-
## intercept SD, the correlation and variance-function parameters (in mixedext's names),
## intervals(which = "var-cov"), resid(type = "normalized" / "pearson"), fitted values,
## getVarCov of one subject and the likelihood-ratio test against the same model without
## the variance function (anova()).

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

data_file <- file.path("tests", "reference", "data", "varfunc_panel.csv")
out_file <- file.path("tests", "reference", "nlme_varfunc_reference.json")

lme_ctrl <- function(opt, niterEM = 100)
  lmeControl(msMaxIter = 500, maxIter = 500, tolerance = 1e-10, msTol = 1e-12,
             niterEM = niterEM, opt = opt)
gls_ctrl <- function(opt)
  glsControl(tolerance = 1e-10, msTol = 1e-12, msMaxIter = 500, maxIter = 500, opt = opt)
optimizers <- c("nlminb", "optim")

fx <- function(y) as.formula(paste(y, "~ t + trt + x"))
cases <- list(
  power_ri = list(fun = lme, y = "y_pow", random = ~ 1 | subject, correlation = NULL,
                  weights = quote(varPower(form = ~ v))),
  power_gls = list(fun = gls, y = "y_pow", random = NULL, correlation = NULL,
                   weights = quote(varPower(form = ~ v))),
  exp_ri = list(fun = lme, y = "y_exp", random = ~ 1 | subject, correlation = NULL,
                weights = quote(varExp(form = ~ z))),
  exp_gls = list(fun = gls, y = "y_exp", random = NULL, correlation = NULL,
                 weights = quote(varExp(form = ~ z))),
  constpower_ri = list(fun = lme, y = "y_cp", random = ~ 1 | subject, correlation = NULL,
                       weights = quote(varConstPower(form = ~ v))),
  constpower_gls = list(fun = gls, y = "y_cp", random = NULL, correlation = NULL,
                        weights = quote(varConstPower(form = ~ v))),
  powby_ri = list(fun = lme, y = "y_powg", random = ~ 1 | subject, correlation = NULL,
                  weights = quote(varPower(form = ~ v | g))),
  powby_gls = list(fun = gls, y = "y_powg", random = NULL, correlation = NULL,
                   weights = quote(varPower(form = ~ v | g))),
  ar1pow_ri = list(fun = lme, y = "y_ar1pow", random = ~ 1 | subject,
                   correlation = quote(corAR1(form = ~ t | subject)),
                   weights = quote(varPower(form = ~ v))),
  ar1pow_gls = list(fun = gls, y = "y_ar1pow", random = NULL,
                    correlation = quote(corAR1(form = ~ t | subject)),
                    weights = quote(varPower(form = ~ v))),
  csexp_gls = list(fun = gls, y = "y_csexp", random = NULL,
                   correlation = quote(corCompSymm(form = ~ 1 | subject)),
                   weights = quote(varExp(form = ~ z))),
  identpow_ri = list(fun = lme, y = "y_idpow", random = ~ 1 | subject, correlation = NULL,
                     weights = quote(varComb(varIdent(form = ~ 1 | g), varPower(form = ~ v)))),
  identpow_gls = list(fun = gls, y = "y_idpow", random = NULL, correlation = NULL,
                      weights = quote(varComb(varIdent(form = ~ 1 | g), varPower(form = ~ v)))),
  unpow_gls = list(fun = gls, y = "y_ar1pow", random = NULL,
                   correlation = quote(corSymm(form = ~ t | subject)),
                   weights = quote(varComb(varIdent(form = ~ 1 | t), varPower(form = ~ v))),
                   null_weights = quote(varIdent(form = ~ 1 | t)))
)

## one fit; `start` a previous fit whose structures serve as initial values;
## `weights = FALSE` drops the variance function (the LRT's null model; for the
## unstructured case it keeps the variance per time, `null_weights`)
fit_one <- function(cs, d, opt, method, start = NULL, weights = TRUE) {
  is_lme <- identical(cs$fun, lme)
  args <- list(fx(cs$y), data = d, method = method,
               control = if (is_lme) lme_ctrl(opt, if (is.null(start)) 100 else 0)
                         else gls_ctrl(opt))
  if (is_lme) args$random <- if (is.null(start)) cs$random else start$modelStruct$reStruct
  if (!is.null(cs$correlation))
    args$correlation <- if (is.null(start)) eval(cs$correlation)
                        else start$modelStruct$corStruct
  w <- if (weights) cs$weights else cs$null_weights
  if (!is.null(w))
    args$weights <- if (is.null(start)) eval(w) else start$modelStruct$varStruct
  f <- quietly(do.call(cs$fun, args), errors = TRUE)
  list(model = f$value, msgs = f$msgs, optimizer = opt,
       llf = if (is.null(f$value)) -Inf else as.numeric(logLik(f$value)))
}

best_fit <- function(cs, d, method, weights = TRUE) {
  fits <- lapply(optimizers, function(o) fit_one(cs, d, o, method, weights = weights))
  llfs <- sapply(fits, `[[`, "llf")
  best <- fits[[which.max(llfs)]]
  rounds <- 0
  for (round in 1:5) {
    again <- lapply(optimizers, function(o) fit_one(cs, d, o, method, start = best$model,
                                                   weights = weights))
    top <- again[[which.max(sapply(again, `[[`, "llf"))]]
    if (!(top$llf > best$llf + 1e-11)) break
    best <- top
    rounds <- round
  }
  best$rounds <- rounds
  best$default_start_logliks <- setNames(as.list(llfs), optimizers)
  best$default_start_messages <- setNames(lapply(fits, function(f) I(f$msgs)), optimizers)
  best
}

cor_params <- function(m) {
  cs <- m$modelStruct$corStruct
  if (is.null(cs)) return(NULL)
  p <- coef(cs, unconstrained = FALSE)
  if (inherits(cs, "corSymm")) {  # the lower triangle by columns over the times
    tt <- sort(unique(d$t))
    ij <- which(lower.tri(diag(length(tt))), arr.ind = TRUE)
    names(p) <- sprintf("corr[%g,%g]", tt[ij[, "col"]], tt[ij[, "row"]])
  } else names(p) <- "rho"
  p
}

## nlme's approximate 95% intervals of the correlation and variance parameters
interval_rows <- function(m) {
  iv <- tryCatch(intervals(m, which = "var-cov"), error = function(e) NULL)
  if (is.null(iv)) return(NA)
  rows <- list()
  add <- function(name, v) rows[[length(rows) + 1]] <<-
    list(param = name, lower = unname(v[1]), est = unname(v[2]), upper = unname(v[3]))
  if (!is.null(iv$corStruct)) {
    a <- iv$corStruct
    nm <- names(cor_params(m))
    for (i in seq_len(nrow(a))) add(nm[i], a[i, ])
  }
  if (!is.null(iv$varStruct)) {
    a <- iv$varStruct
    nm <- names(vf_params(m$modelStruct$varStruct, all = FALSE))
    stopifnot(length(nm) == nrow(a))
    for (i in seq_len(nrow(a))) add(nm[i], a[i, ])
  }
  add("sigma", iv$sigma)
  rows
}

d <- read.csv(data_file, stringsAsFactors = FALSE)
d$subject <- factor(d$subject)
d$g <- factor(d$g)
stopifnot(!is.unsorted(order(d$subject, d$t)))
unit <- "s01"
unit_rows <- which(d$subject == unit)

results <- list()
for (cname in names(cases)) {
  cs <- cases[[cname]]
  for (method in c("REML", "ML")) {
    best <- best_fit(cs, d, method)
    m <- best$model
    null <- best_fit(cs, d, method, weights = FALSE)$model
    is_lme <- identical(cs$fun, lme)
    fe <- if (is_lme) fixef(m) else coef(m)
    av <- anova(null, m)
    V <- if (is_lme) getVarCov(m, individuals = unit, type = "conditional")[[1]]
         else if (!is.null(cs$correlation)) getVarCov(m, individual = unit)
         else {  # getVarCov.gls needs a correlation: sigma^2 / weights^2 on the diagonal
           w <- varWeights(m$modelStruct$varStruct)[unit_rows]
           diag(m$sigma^2 / w^2, length(w))
         }
    cp <- cor_params(m)
    vp <- vf_params(m$modelStruct$varStruct)
    entry <- list(
      case = cname, fun = if (is_lme) "lme" else "gls", method = method, y = cs$y,
      call = squish(paste(deparse(m$call), collapse = " ")), data_file = data_file,
      logLik = as.numeric(logLik(m)), AIC = AIC(m), BIC = BIC(m), nobs = nobs(m),
      optimizer = best$optimizer, default_start_logliks = best$default_start_logliks,
      restart_rounds = best$rounds, messages = I(best$msgs),
      default_start_messages = best$default_start_messages,
      fixef_names = I(names(fe)), fixef = I(unname(fe)),
      fixef_se = I(unname(sqrt(diag(as.matrix(vcov(m)))))),
      sigma = m$sigma,
      re_sd = if (is_lme) sqrt(getVarCov(m, type = "random.effects")[1, 1]) else NA,
      cor_params = if (is.null(cp)) NA else as.list(cp),
      var_params = as.list(vp),
      intervals_95 = interval_rows(m),
      normalized = I(unname(as.numeric(resid(m, type = "normalized")))),
      pearson = I(unname(as.numeric(resid(m, type = "pearson")))),
      fitted = I(unname(as.numeric(fitted(m)))),
      residual_cov = list(unit = unit, rows = I(unit_rows - 1L),
                          matrix = matrix(as.numeric(V), nrow(V))),
      lrt_null_logLik = as.numeric(logLik(null)),
      lrt_statistic = av$L.Ratio[2], lrt_df = av$df[2] - av$df[1], lrt_p = av$`p-value`[2])
    results[[length(results) + 1]] <- entry
    cat(sprintf("%-15s %-4s llf=%.8f opt=%s restarts=%d |nlminb-optim|=%.1e sigma=%.5f var=%s cor=%s\n",
                cname, method, entry$logLik, best$optimizer, best$rounds,
                abs(diff(unlist(best$default_start_logliks))), m$sigma,
                paste(sprintf("%s=%.4f", names(vp), vp), collapse = " "),
                if (is.null(cp)) "-" else paste(format(cp, digits = 4), collapse = ",")))
    if (length(best$msgs)) cat("   ", paste(best$msgs, collapse = "\n    "), "\n")
    failed <- names(which(!is.finite(unlist(best$default_start_logliks))))
    if (length(failed)) cat("    from the default start", failed, "failed\n")
  }
}

out <- list(
  meta = c(package_versions(c("nlme", "jsonlite")), list(
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/nlme_varfunc_reference.R",
    controls = list(
      lme = "lmeControl(msMaxIter = 500, maxIter = 500, tolerance = 1e-10, msTol = 1e-12, niterEM = 100, opt = <optimizer>)",
      gls = "glsControl(tolerance = 1e-10, msTol = 1e-12, msMaxIter = 500, maxIter = 500, opt = <optimizer>)",
      optimizers = I(optimizers),
      restart = "both optimizers from the best fit's reStruct / corStruct / varStruct (lme: niterEM = 0) while a restart gains > 1e-11 (at most 5 rounds)"),
    notes = I(c(
      "Model: fixed effects y ~ t + trt + x; lme: random = ~ 1 | subject; the correlation (if any) over ~ t | subject; weights = the case's varFunc.",
      "var_params: coef(varStruct, unconstrained = FALSE) in mixedext's names: power, expon, const (per level: power[A], ...), sd_ratio[level] (varIdent, reference level = 1 included); varComb: its components in order.",
      "cor_params: coef(corStruct, unconstrained = FALSE): rho (corAR1 with gaps is nlme's corARMA(p = 1), same rho; corCompSymm's rho), corSymm: corr[s,t] over the times, lower triangle by columns.",
      "intervals_95: intervals(fit, which = 'var-cov') rows of corStruct, varStruct (nlme's unconstrained scales: power, expon identity; const, varIdent ratios log) and sigma; NA where nlme cannot compute them.",
      "normalized / pearson / fitted: resid(fit, type = ...), fitted(fit) (lme: the innermost level) in the CSV's row order (sorted by subject, t).",
      "residual_cov: getVarCov(fit, individual(s) = 's01'(, type = 'conditional')): sigma^2 S C S over that subject's rows (0-based CSV rows in 'rows'); gls without a correlation (where getVarCov.gls stops): diag(sigma^2 / varWeights(varStruct)^2) of those rows.",
      "default_start_logliks / default_start_messages: each optimizer's fit from nlme's default start (null: the fit stopped with an error, its message kept); messages: the stored fit's.",
      "lrt_*: anova(null, fit), null the same call without weights (same criterion; unpow_gls: with varIdent(form = ~ 1 | t), the variance per time mixedext's unstructured has); lrt_df the difference in parameters.",
      "Grouping columns are factors with sorted levels (factor())."
    ))
  )),
  cases = results)
write_reference(out, out_file)
cat("wrote", out_file, "\n")
