## lme4::glmer (binomial, logit) reference fits for mixedext's binomial_mixedglm().fit_ml().
##
## Run from the repository root, after export_datasets.R and make_glmm_data.py:
##     Rscript tests/reference/glmer_reference.R
## Writes tests/reference/glmer_reference.json.
##
## Every case is fitted by maximum likelihood (Laplace, nAGQ = 1, or adaptive Gauss-Hermite,
## nAGQ = 15) with two tightly controlled optimizers started from lme4's default start:
##   bobyqa    = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-10))
##   nloptwrap = glmerControl(optimizer = "nloptwrap",
##                            optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, maxeval = 1e5))
## The fit with the higher log-likelihood is kept (both -2 logLik are stored). As checks it
## is re-fitted with the other optimizer started at its optimum (theta and fixef), and
## R's nlminb() minimises lme4's own deviance function (devFunOnly = TRUE, the same nAGQ)
## from the reported optimum; the differences of the objectives are stored (negative = the
## check found a lower deviance).
##
## For readmission_laplace and clearance_laplace the population-averaged (marginal)
## coefficients implied by the fitted GLMM are computed by brute force (see marginal_*).

suppressPackageStartupMessages({
  library(lme4)
  library(performance)
  library(insight)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

classic_dir <- file.path("mixedext", "datasets", "data")
sim_dir <- file.path("tests", "reference", "data")
out_file <- file.path("tests", "reference", "glmer_reference.json")

## tolerance of lme4's inner penalised IRLS (conditional modes); lme4's default 1e-7 leaves
## the Laplace optimum visibly off on clearance (see the README), so it is tightened
tol_pwrss <- 1e-12
ctrl <- list(
  bobyqa = glmerControl(optimizer = "bobyqa",
                        optCtrl = list(maxfun = 1e5, rhoend = 1e-10),
                        tolPwrss = tol_pwrss),
  nloptwrap = glmerControl(optimizer = "nloptwrap",
                           optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14,
                                          maxeval = 1e5),
                           tolPwrss = tol_pwrss)
)
ctrl_text <- list(
  bobyqa = sprintf("glmerControl(optimizer = 'bobyqa', optCtrl = list(maxfun = 1e5, rhoend = 1e-10), tolPwrss = %g)", tol_pwrss),
  nloptwrap = sprintf("glmerControl(optimizer = 'nloptwrap', optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, maxeval = 1e5), tolPwrss = %g)", tol_pwrss)
)


f_cbpp <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
f_readm <- "readmit ~ age + severity + teaching + (1 | unit)"
f_clear <- "cleared ~ trt + visit + (1 | patient)"
cbpp_data <- classic("cbpp", "cbpp.csv", c("herd", "period"))
readm_data <- simulated("readmission.csv", "unit")
clear_data <- simulated("clearance.csv", "patient")

cases <- list(
  cbpp_laplace = c(list(formula = f_cbpp, nAGQ = 1), cbpp_data),
  cbpp_agq15 = c(list(formula = f_cbpp, nAGQ = 15), cbpp_data),
  readmission_laplace = c(list(formula = f_readm, nAGQ = 1, marginal = TRUE), readm_data),
  readmission_agq15 = c(list(formula = f_readm, nAGQ = 15), readm_data),
  nested_laplace = c(list(formula = "y ~ x + (1 | hospital/ward)", nAGQ = 1),
                     simulated("nested_binary.csv", c("hospital", "ward"))),
  slope_laplace = c(list(formula = "y ~ t + (t | subject)", nAGQ = 1),
                    simulated("slope_binary.csv", "subject")),
  clearance_laplace = c(list(formula = f_clear, nAGQ = 1, marginal = TRUE), clear_data),
  clearance_agq15 = c(list(formula = f_clear, nAGQ = 15), clear_data)
)

read_case_data <- function(cs) {
  d <- read.csv(cs$path, stringsAsFactors = FALSE)
  ## factor() sorts levels: numerically for integer codes (cbpp's herd 1..15, period 1..4,
  ## ward 1..k), alphabetically for strings ("H1", "H10", "H11", "H12", "H2", ...)
  for (f in cs$factors) d[[f]] <- factor(d[[f]])
  d
}

## quietly() (common.R) with errors = TRUE: a failed call is recorded, not fatal

fit_glmer <- function(cs, d, optimizer, start = NULL)
  quietly(glmer(as.formula(cs$formula), data = d, family = binomial, nAGQ = cs$nAGQ,
                control = ctrl[[optimizer]], start = start), errors = TRUE)

crit <- function(m) -2 * as.numeric(logLik(m))

## conditional SDs (sqrt of the diagonal of postVar) as a levels x terms matrix

as_json_num <- function(x) {
  if (is.null(x)) return(NULL)
  if (!is.null(names(x)) && length(x) >= 1) as.list(x) else unname(x)
}

extract <- function(m) {
  fe <- fixef(m)
  V <- as.matrix(vcov(m))                       # default: use.hessian = TRUE for GLMMs
  ## vcov(use.hessian = FALSE) warns when it differs from the Hessian-based one: keep the text
  vrx <- quietly(as.matrix(vcov(m, use.hessian = FALSE)), errors = TRUE)
  V_rx <- vrx$value
  th <- getME(m, "theta")
  varcorr <- varcorr_rows(m)
  ranef_out <- ranef_blocks(m)
  list(
    nobs = nobs(m),
    logLik = as.numeric(logLik(m)),
    minus2logLik = crit(m),
    deviance = deviance(m),
    AIC = AIC(m),
    BIC = BIC(m),
    df = attr(logLik(m), "df"),
    fixef_names = I(names(fe)),
    fixef = as.list(fe),
    fixef_se = as.list(setNames(sqrt(diag(V)), names(fe))),
    vcov = unname(V),
    fixef_se_rx = as.list(setNames(sqrt(diag(V_rx)), names(fe))),
    vcov_rx = unname(V_rx),
    vcov_rx_messages = I(vrx$msgs),
    theta = I(unname(th)),
    theta_names = I(names(th)),
    varcorr = varcorr,
    ranef = ranef_out,
    singular = isSingular(m)
  )
}

## ---- marginal (population-averaged) coefficients implied by a random-intercept GLMM ----
## Gauss-Hermite rule (physicists' weight exp(-x^2)) by Golub-Welsch
gauss_hermite <- function(n) {
  J <- matrix(0, n, n)
  off <- sqrt(seq_len(n - 1) / 2)
  J[cbind(1:(n - 1), 2:n)] <- off
  J[cbind(2:n, 1:(n - 1))] <- off
  e <- eigen(J, symmetric = TRUE)
  o <- order(e$values)
  list(nodes = e$values[o], weights = sqrt(pi) * e$vectors[1, o]^2)
}

marginal_info <- function(m) {
  X <- getME(m, "X")
  beta <- fixef(m)
  vc <- as.data.frame(VarCorr(m))
  stopifnot(nrow(vc) == 1)                   # one random intercept
  s2 <- vc$vcov[1]
  s <- sqrt(s2)
  eta <- as.vector(X %*% beta)
  gh <- gauss_hermite(200)
  z <- sqrt(2) * gh$nodes
  w <- gh$weights / sqrt(pi)
  pbar <- as.vector(plogis(outer(eta, s * z, `+`)) %*% w)
  ## independent check with adaptive quadrature, one integral per distinct linear predictor
  ue <- unique(eta)
  pint <- vapply(ue, function(e) integrate(function(u) plogis(e + u) * dnorm(u, sd = s),
                                           -Inf, Inf, rel.tol = 1e-12,
                                           abs.tol = 0)$value, 0)
  pbar_int <- pint[match(eta, ue)]
  b_ls <- solve(crossprod(X), crossprod(X, qlogis(pbar)))[, 1]
  b_ls_int <- solve(crossprod(X), crossprod(X, qlogis(pbar_int)))[, 1]
  cc <- 16 * sqrt(3) / (15 * pi)
  list(
    marginal_implied_ls = as.list(setNames(b_ls, colnames(X))),
    marginal_method = paste(
      "For every observed row i, pbar_i = integral of plogis(x_i' beta + u) dN(u; 0, sigma2)",
      "(200-point Gauss-Hermite, nodes from Golub-Welsch), then the least-squares fit of",
      "qlogis(pbar) on X over all observed rows, each row once:",
      "solve(crossprod(X), crossprod(X, qlogis(pbar))) (GLMMadaptive::marginal_coefs'",
      "definition, with quadrature instead of Monte Carlo). beta and sigma2 = the fitted",
      "fixef and random-intercept variance."),
    marginal_sigma2 = s2,
    marginal_pbar_mean = mean(pbar),
    marginal_pbar_first10 = I(pbar[1:10]),
    marginal_check_integrate_max_abs_pbar_diff = max(abs(pbar - pbar_int)),
    marginal_check_integrate_max_abs_coef_diff = max(abs(b_ls - b_ls_int)),
    marginal_ls_residual_max_abs = max(abs(qlogis(pbar) - X %*% b_ls)),
    marginal_approx_attenuation = as.list(beta / sqrt(1 + cc^2 * s2)),
    marginal_approx_attenuation_factor = 1 / sqrt(1 + cc^2 * s2),
    marginal_approx_method = "beta / sqrt(1 + c^2 sigma2), c = 16 sqrt(3) / (15 pi) (Zeger, Liang & Albert 1988); approximation, for comparison only"
  )
}

## exact marginal log-likelihood of a single random-intercept model at the fitted (beta,
## sigma): one adaptive integral per cluster (R's integrate), on the absolute scale
loglik_integrate <- function(m, cs, d) {
  eta <- as.vector(getME(m, "X") %*% fixef(m))
  s <- getME(m, "theta")[[1]]
  y <- getME(m, "y")                 # proportion for cbind()
  n <- weights(m)                    # trials (1 for 0/1 data)
  k <- round(y * n)
  g <- getME(m, "flist")[[1]]
  total <- 0
  for (lev in levels(g)) {
    i <- which(g == lev)
    l0 <- sum(dbinom(k[i], n[i], plogis(eta[i]), log = TRUE))
    f <- function(u) vapply(u, function(uu)
      exp(sum(dbinom(k[i], n[i], plogis(eta[i] + uu), log = TRUE)) - l0), 0) * dnorm(u, 0, s)
    total <- total + l0 + log(integrate(f, -Inf, Inf, rel.tol = 1e-12, abs.tol = 0)$value)
  }
  total
}

## ---- main loop ------------------------------------------------------------------------
results <- list()
for (cname in names(cases)) {
  cs <- cases[[cname]]
  d <- read_case_data(cs)
  fits <- lapply(names(ctrl), function(o) fit_glmer(cs, d, o))
  names(fits) <- names(ctrl)
  crits <- sapply(fits, function(f) crit(f$value))
  best_name <- names(ctrl)[which.min(crits)]
  other_name <- setdiff(names(ctrl), best_name)
  best <- fits[[best_name]]
  m <- best$value

  ## check 1: the other optimizer from the reported optimum
  check <- fit_glmer(cs, d, other_name,
                     start = list(theta = getME(m, "theta"), fixef = fixef(m)))
  check_diff <- crit(check$value) - crit(m)

  ## check 2: nlminb on lme4's deviance function of c(theta, beta), from the optimum
  devf <- glmer(as.formula(cs$formula), data = d, family = binomial, nAGQ = cs$nAGQ,
                control = ctrl[[best_name]], devFunOnly = TRUE)
  th <- getME(m, "theta")
  lower_th <- getME(m, "lower")
  par0 <- c(th, fixef(m))
  nl <- nlminb(par0, devf, lower = c(lower_th, rep(-Inf, length(fixef(m)))),
               control = list(eval.max = 1e4, iter.max = 1e4, rel.tol = 1e-14))
  nl_diff <- nl$objective - crit(m)
  ## ... and from a perturbed start (theta * 1.2, beta + 0.1)
  nlp <- nlminb(c(th * 1.2, fixef(m) + 0.1), devf,
                lower = c(lower_th, rep(-Inf, length(fixef(m)))),
                control = list(eval.max = 1e4, iter.max = 1e4, rel.tol = 1e-14))
  nlp_diff <- nlp$objective - crit(m)
  ## independent Hessian (numDeriv, Richardson extrapolation) of the same deviance function
  Hn <- numDeriv::hessian(devf, par0)
  ib <- -seq_along(th)
  Vn <- (2 * solve(Hn))[ib, ib, drop = FALSE]
  se_n <- sqrt(diag(Vn))
  se_l <- sqrt(diag(as.matrix(vcov(m))))
  pars <- function(f) c(getME(f$value, "theta"), fixef(f$value))
  par_diff <- max(abs(pars(fits$bobyqa) - pars(fits$nloptwrap)))
  dev_at_opt <- devf(par0)

  ## for information: lme4's default control (bobyqa for both stages, tolPwrss = 1e-7)
  dflt <- quietly(glmer(as.formula(cs$formula), data = d, family = binomial,
                        nAGQ = cs$nAGQ), errors = TRUE)
  default_fit <- list(
    minus2logLik_minus_reported = crit(dflt$value) - crit(m),
    theta = I(unname(getME(dflt$value, "theta"))),
    fixef = as.list(fixef(dflt$value)),
    messages = I(unique(c(as.character(unlist(dflt$value@optinfo$conv$lme4$messages)),
                          dflt$msgs))))

  lme4_msgs <- as.character(unlist(m@optinfo$conv$lme4$messages))
  conv_msgs <- unique(c(lme4_msgs, sub("^(warning|message): ", "", best$msgs)))
  converged <- m@optinfo$conv$opt == 0 && !any(grepl("^warning:", best$msgs)) &&
    all(grepl("boundary \\(singular\\) fit", conv_msgs))

  ## performance
  ic <- quietly(performance::icc(m), errors = TRUE)
  r2 <- quietly(performance::r2_nakagawa(m), errors = TRUE)
  gv <- quietly(insight::get_variance(m), errors = TRUE)
  perf <- list(
    icc_adjusted = if (is.null(ic$value)) NA else ic$value$ICC_adjusted,
    icc_unadjusted = if (is.null(ic$value)) NA else ic$value$ICC_unadjusted,
    icc_messages = I(c(ic$msgs, squish(ic$console))),
    r2_marginal = if (is.null(r2$value)) NA else unname(r2$value$R2_marginal),
    r2_conditional = if (is.null(r2$value)) NA else unname(r2$value$R2_conditional),
    r2_messages = I(c(r2$msgs, squish(r2$console))),
    get_variance = if (is.null(gv$value)) NULL else lapply(gv$value, as_json_num),
    get_variance_messages = I(c(gv$msgs, squish(gv$console))))

  entry <- c(
    list(case = cname, nAGQ = cs$nAGQ, family = "binomial(link = 'logit')",
         formula = cs$formula, data = cs$data, data_file = cs$path),
    extract(m),
    list(
      optimizer = best_name,
      optimizer_control = ctrl_text[[best_name]],
      optimizer_code = m@optinfo$conv$opt,
      optimizer_message = if (is.null(m@optinfo$message)) NA else m@optinfo$message,
      optimizer_minus2logLik = as.list(crits),
      optimizer_messages = lapply(fits, function(f) I(f$msgs)),
      check_optimizer = other_name,
      check_minus2logLik_diff = check_diff,
      check_nlminb_minus2logLik_diff = nl_diff,
      check_nlminb_message = nl$message,
      check_nlminb_perturbed_minus2logLik_diff = nlp_diff,
      check_nlminb_perturbed_max_abs_par_diff = max(abs(nlp$par - par0)),
      check_nlminb_perturbed_message = nlp$message,
      optimizer_max_abs_par_diff = par_diff,
      fixef_se_numderiv = as.list(setNames(se_n, names(fixef(m)))),
      check_se_numderiv_max_rel_diff = max(abs(se_n / se_l - 1)),
      check_devfun_at_optimum_minus_reported = dev_at_opt - crit(m),
      converged = converged,
      converged_messages = I(as.character(conv_msgs)),
      default_control_fit = default_fit,
      performance = perf))
  ## log-likelihood scale: lme4's nAGQ > 1 logLik is relative to the saturated model
  ## (lme4 issue #161); put it on the absolute scale of the Laplace logLik
  if (grepl("cbind", cs$formula)) {
    entry$log_binomial_coefficients <- sum(lchoose(d$size, d$incidence))
    entry$log_saturated <- sum(dbinom(d$incidence, d$size, d$incidence / d$size, log = TRUE))
  } else {
    entry$log_binomial_coefficients <- 0
    entry$log_saturated <- 0
  }
  entry$logLik_absolute <- entry$logLik + if (cs$nAGQ > 1) entry$log_saturated else 0
  if (length(getME(m, "theta")) == 1) entry$logLik_integrate <- loglik_integrate(m, cs, d)
  if (isTRUE(cs$marginal)) entry <- c(entry, marginal_info(m))
  results[[length(results) + 1]] <- entry

  cat(sprintf("    logLik_absolute=%.8f logLik_integrate=%s\n", entry$logLik_absolute,
              if (is.null(entry$logLik_integrate)) "-" else sprintf("%.8f", entry$logLik_integrate)))
  cat(sprintf("%-20s nAGQ=%-2d llf=%.8f opt=%-9s bobyqa-nlopt(-2ll)=%+.2e check=%+.2e nlminb=%+.2e pert=%+.2e (par %.1e) optpar=%.1e se_nd=%.1e devf=%+.1e default=%+.2e conv=%s sing=%s ICC=%s\n",
              cname, cs$nAGQ, entry$logLik, best_name, crits[["bobyqa"]] - crits[["nloptwrap"]],
              check_diff, nl_diff, nlp_diff, max(abs(nlp$par - par0)), par_diff, max(abs(se_n / se_l - 1)), dev_at_opt - crit(m), default_fit$minus2logLik_minus_reported,
              converged, entry$singular,
              format(perf$icc_adjusted, digits = 6)))
  for (mm in c(conv_msgs, perf$icc_messages, perf$r2_messages,
               perf$get_variance_messages, unlist(lapply(fits, `[[`, "msgs"))))
    cat("    note:", mm, "\n")
}

out <- list(
  meta = list(
    r_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    matrix_version = as.character(packageVersion("Matrix")),
    minqa_version = as.character(packageVersion("minqa")),
    nloptr_version = as.character(packageVersion("nloptr")),
    performance_version = as.character(packageVersion("performance")),
    insight_version = as.character(packageVersion("insight")),
    jsonlite_version = as.character(packageVersion("jsonlite")),
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/glmer_reference.R",
    controls = ctrl_text,
    notes = I(c(
      "glmer(family = binomial) fitted with both controls from lme4's default start; the fit with the higher logLik is reported (optimizer), optimizer_minus2logLik holds both.",
      "check_minus2logLik_diff: -2 logLik of a re-fit with check_optimizer started at the reported theta and fixef, minus the reported one (negative = the check found a better optimum). check_nlminb_minus2logLik_diff: the same for nlminb() on glmer(..., devFunOnly = TRUE) (lme4's deviance of c(theta, beta) at the same nAGQ and tolPwrss) started at the reported optimum; check_nlminb_perturbed_*: nlminb from theta * 1.2, beta + 0.1 (objective difference and max |parameter difference| to the reported optimum). optimizer_max_abs_par_diff: max |difference| of c(theta, beta) between the bobyqa and nloptwrap fits.",
      "tolPwrss = 1e-12 (lme4's default 1e-7): the tolerance of the inner penalised IRLS that finds the conditional modes. With the default, the reported Laplace optimum is off by up to 9.5e-3 in -2 logLik (slope_laplace) and the two optimizers disagree (clearance_laplace: 0.028, with a gradient warning); default_control_fit records what glmer() with its default control gives (minus2logLik_minus_reported > 0 = worse).",
      "The Laplace logLik (and logLik_absolute) includes the binomial normalising constant: for cbind() responses, sum(lchoose(size, incidence)) = log_binomial_coefficients; for 0/1 responses it is 0.",
      "minus2logLik = -2 * logLik (compare this); deviance = deviance(m), which for a GLMM lme4 defines as sum(residuals(m, 'deviance')^2), the conditional deviance at the conditional modes (no ||u||^2 penalty, no log-determinant): NOT -2 logLik.",
      "nAGQ = 15: adaptive Gauss-Hermite quadrature with 15 nodes (lme4's; only for a single scalar random effect). For nAGQ > 1 lme4's logLik is relative to the saturated model (lme4 issue #161): logLik_absolute = logLik + log_saturated (log_saturated = sum dbinom(k, n, k/n, log = TRUE); 0 for 0/1 data) is on the scale of the Laplace logLik (for nAGQ = 1, logLik_absolute = logLik). logLik_integrate: the exact marginal log-likelihood at the reported (beta, sigma) by R's integrate() per cluster (rel.tol 1e-12), absolute scale, single random-intercept cases only.",
      "fixef_se / vcov: vcov(m), lme4's default for GLMMs (use.hessian = TRUE): the fixed-effect block of the inverse of half the finite-difference Hessian of the deviance over c(theta, beta) at the optimum. fixef_se_numderiv: the same fixed-effect block of 2 * solve(H) with H = numDeriv::hessian() (Richardson extrapolation) of the deviance function at the optimum, an independent check of lme4's finite-difference Hessian (check_se_numderiv_max_rel_diff = max relative difference of the SEs). fixef_se_rx / vcov_rx: vcov(m, use.hessian = FALSE), from the Cholesky factor RX of the penalised IRLS at the optimum (theta held fixed).",
      "theta = relative covariance factor; for a binomial GLMM (no residual scale) theta is the random-effect SD itself for a scalar random intercept.",
      "varcorr: rows of as.data.frame(VarCorr(m)) in R's order (innermost level first for nested terms, e.g. ward:hospital before hospital); no Residual row for the binomial family.",
      "ranef: values = conditional modes; condsd = sqrt(diag(attr(ranef(m, condVar = TRUE)[[g]], 'postVar'))). Group names and level labels are R's own (ward:hospital levels are 'ward:hospital', inner label first, e.g. '3:H10').",
      "performance: icc(m) ICC_adjusted / ICC_unadjusted, r2_nakagawa(m) R2_marginal / R2_conditional, insight::get_variance(m) (latent scale, residual pi^2/3); messages are warnings/messages/console text they produced.",
      "marginal_*: only for readmission_laplace and clearance_laplace; see marginal_method."
    ))
  ),
  cases = results
)

write_reference(out, out_file)
cat("wrote", out_file, "\n")
