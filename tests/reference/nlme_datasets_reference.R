## nlme reference fits on nlme's own data sets (Orthodont, Ovary, BodyWeight) for the
## residual structures and variance functions of the "coming from lme4 / nlme" page of
## the docs: corExp, corGaus with a nugget, corARMA(1,1), corARMA(p = 3) (the model of
## mixedext's "toeplitz"), varPower, varExp, varConstPower, varComb(varIdent, varPower)
## and corExp + varPower; REML, as the page's calls.
##
## Run from the repository root:
##     Rscript tests/reference/nlme_datasets_reference.R
## Writes tests/reference/nlme_datasets_reference.json.
##
## Each case is fitted with nlme's two optimizers (nlminb, optim) from nlme's default
## start under tight controls; the higher log-likelihood is restarted with both from its
## own estimates (niterEM = 0) while that gains more than 1e-11 (at most 5 rounds).
## Stored per case: logLik, fixed effects, sigma and the structure's parameters in
## mixedext's names (for corARMA(p = 3) the autocorrelations at lags 1-3, mixedext's
## rho1..rho3).

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))
out_file <- file.path("tests", "reference", "nlme_datasets_reference.json")

orthodont <- as.data.frame(Orthodont)
orthodont$Subject <- factor(as.character(orthodont$Subject))
orthodont$visit <- ave(orthodont$age, orthodont$Subject, FUN = seq_along) - 1
ovary <- as.data.frame(Ovary)
ovary$Mare <- factor(as.character(ovary$Mare))
ovary$visit <- ave(ovary$Time, ovary$Mare, FUN = seq_along) - 1
bodyweight <- as.data.frame(BodyWeight)
bodyweight$Rat <- factor(as.character(bodyweight$Rat))
bodyweight$Diet <- factor(as.character(bodyweight$Diet))

ovary_fx <- follicles ~ sin(2 * pi * Time) + cos(2 * pi * Time)
bw_fx <- weight ~ Time * Diet
cases <- list(
  orthodont_exp = list(fun = lme, fixed = distance ~ age, data = "orthodont",
                       random = ~ 1 | Subject,
                       correlation = quote(corExp(form = ~ age | Subject))),
  ovary_gaus_nugget = list(fun = lme, fixed = ovary_fx, data = "ovary", random = ~ 1 | Mare,
                           correlation = quote(corGaus(form = ~ Time | Mare, nugget = TRUE))),
  ovary_arma11 = list(fun = lme, fixed = ovary_fx, data = "ovary", random = ~ 1 | Mare,
                      correlation = quote(corARMA(form = ~ visit | Mare, p = 1, q = 1))),
  orthodont_toeplitz = list(fun = gls, fixed = distance ~ age, data = "orthodont",
                            correlation = quote(corARMA(form = ~ visit | Subject, p = 3))),
  bodyweight_power = list(fun = lme, fixed = bw_fx, data = "bodyweight",
                          random = ~ Time | Rat, weights = quote(varPower(form = ~ Time))),
  bodyweight_exp = list(fun = lme, fixed = bw_fx, data = "bodyweight",
                        random = ~ Time | Rat, weights = quote(varExp(form = ~ Time))),
  bodyweight_constpower = list(fun = lme, fixed = bw_fx, data = "bodyweight",
                               random = ~ Time | Rat,
                               weights = quote(varConstPower(form = ~ Time))),
  bodyweight_identpower = list(fun = lme, fixed = bw_fx, data = "bodyweight",
                               random = ~ Time | Rat,
                               weights = quote(varComb(varIdent(form = ~ 1 | Diet),
                                                       varPower(form = ~ Time)))),
  bodyweight_exp_power = list(fun = lme, fixed = bw_fx, data = "bodyweight",
                              random = ~ 1 | Rat,
                              correlation = quote(corExp(form = ~ Time | Rat)),
                              weights = quote(varPower(form = ~ Time)))
)
optimizers <- c("nlminb", "optim")

fit_one <- function(cs, opt, start = NULL) {
  is_lme <- identical(cs$fun, lme)
  ctrl <- if (is_lme)
    lmeControl(msMaxIter = 500, maxIter = 500, tolerance = 1e-10, msTol = 1e-12,
               niterEM = if (is.null(start)) 100 else 0, opt = opt)
  else glsControl(tolerance = 1e-10, msTol = 1e-12, msMaxIter = 500, maxIter = 500,
                  opt = opt)
  args <- list(cs$fixed, data = get(cs$data), method = "REML", control = ctrl)
  if (is_lme) args$random <- if (is.null(start)) cs$random else start$modelStruct$reStruct
  if (!is.null(cs$correlation))
    args$correlation <- if (is.null(start)) eval(cs$correlation)
                        else start$modelStruct$corStruct
  if (!is.null(cs$weights))
    args$weights <- if (is.null(start)) eval(cs$weights) else start$modelStruct$varStruct
  f <- quietly(do.call(cs$fun, args), errors = TRUE)
  list(model = f$value, msgs = f$msgs, optimizer = opt,
       llf = if (is.null(f$value)) -Inf else as.numeric(logLik(f$value)))
}

best_fit <- function(cs) {
  fits <- lapply(optimizers, function(o) fit_one(cs, o))
  best <- fits[[which.max(sapply(fits, `[[`, "llf"))]]
  for (round in 1:5) {
    again <- lapply(optimizers, function(o) fit_one(cs, o, start = best$model))
    top <- again[[which.max(sapply(again, `[[`, "llf"))]]
    if (!(top$llf > best$llf + 1e-11)) break
    best <- top
  }
  best$default_start_logliks <- setNames(as.list(sapply(fits, `[[`, "llf")), optimizers)
  best
}

## the structure's parameters in mixedext's names
struct_params <- function(m) {
  out <- list()
  cs <- m$modelStruct$corStruct
  if (!is.null(cs)) {
    p <- coef(cs, unconstrained = FALSE)
    if (inherits(cs, "corARMA") && length(p) == 3 && all(grepl("^Phi", names(p)))) {
      acf <- ARMAacf(ar = unname(p), lag.max = 3)[-1]  # mixedext's toeplitz rho1..rho3
      out <- c(out, setNames(as.list(unname(acf)), paste0("rho", 1:3)))
    } else {
      names(p) <- sub("^Phi", "phi", sub("^Theta", "theta", names(p)))
      out <- c(out, as.list(p))
    }
  }
  vs <- m$modelStruct$varStruct
  if (!is.null(vs)) {
    parts <- if (inherits(vs, "varComb")) unclass(vs) else list(vs)
    for (v in parts) {
      p <- coef(v, unconstrained = FALSE, allCoef = inherits(v, "varIdent"))
      if (inherits(v, "varIdent")) names(p) <- paste0("sd_ratio[", names(p), "]")
      out <- c(out, as.list(p))
    }
  }
  out
}

results <- list()
for (cname in names(cases)) {
  cs <- cases[[cname]]
  best <- best_fit(cs)
  m <- best$model
  fe <- if (identical(cs$fun, lme)) fixef(m) else coef(m)
  sp <- struct_params(m)
  results[[length(results) + 1]] <- list(
    case = cname, data = cs$data, call = squish(paste(deparse(m$call), collapse = " ")),
    logLik = as.numeric(logLik(m)), optimizer = best$optimizer,
    default_start_logliks = best$default_start_logliks, messages = I(best$msgs),
    fixef_names = I(names(fe)), fixef = I(unname(fe)), sigma = m$sigma,
    struct_params = sp)
  cat(sprintf("%-24s llf=%.8f opt=%s default=%s %s\n", cname, logLik(m), best$optimizer,
              paste(sprintf("%.6f", unlist(best$default_start_logliks)), collapse = "/"),
              paste(sprintf("%s=%.5g", names(sp), unlist(sp)), collapse = " ")))
}

out <- list(
  meta = c(package_versions(c("nlme", "jsonlite")), list(
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/nlme_datasets_reference.R",
    notes = I(c(
      "Data: nlme's Orthodont, Ovary and BodyWeight (as mixedext.datasets bundles them); visit = the row's position within its unit, 0-based.",
      "REML; lmeControl / glsControl(tolerance = 1e-10, msTol = 1e-12, 500 iterations), optimizers nlminb and optim, the better restarted from its own estimates while it gains > 1e-11.",
      "struct_params: coef(corStruct / varStruct, unconstrained = FALSE) in mixedext's names (range, nugget, phi1, theta1, power, expon, const, sd_ratio[level]); corARMA(p = 3): its autocorrelations at lags 1-3 (rho1..rho3)."
    )))),
  cases = results)
write_reference(out, out_file)
cat("wrote", out_file, "\n")
