## Reference fits for count (Poisson, negative binomial NB2) and positive (Gamma, log link)
## GLMMs and for lmer with prior weights / an offset: lme4 (glmer, glmer.nb, lmer) and
## glmmTMB.
##
## Run from the repository root, after export_datasets.R, export_count_datasets.R and
## make_count_data.py:
##     Rscript tests/reference/count_reference.R
## Writes tests/reference/count_reference.json (~1-2 minutes).
##
## Protocol (as glmer_reference.R / lmer_reference.R):
##  - glmer / glmer.nb: fitted from lme4's default start with two tight controls
##      bobyqa    = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-10), tolPwrss = 1e-12)
##      nloptwrap = glmerControl(optimizer = "nloptwrap", optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, maxeval = 1e5), tolPwrss = 1e-12)
##    the higher log-likelihood kept; checks: the other optimizer from the optimum, nlminb
##    on lme4's own deviance function (devFunOnly = TRUE) from the optimum and from a
##    perturbed start, numDeriv Hessian SEs. glmer.nb: glmer.nb(control = <control>) and
##    then lme4's own outer step (lme4:::optTheta, 1-d optimize over log(size)) re-run with
##    tol = 1e-10 (glmer.nb's default tol = 5e-5, and its tol argument cannot be passed in
##    lme4 1.1.31: it is forwarded to glmer()).
##  - lmer: lmer_tight_controls() of common.R (bobyqa / nloptwrap), lower criterion kept,
##    the other optimizer from the optimum, nlminb on devFunOnly, and the log-likelihood
##    recomputed by dense linear algebra.
##  - glmmTMB: two optimizers from glmmTMB's default start, nlminb (glmmTMB's default) and
##    optim(method = "BFGS"), each followed by Newton steps on TMB's exact gradient
##    (Hessian by central differences of the gradient) until max|gradient| < 1e-9; the
##    higher log-likelihood kept; checks: nlminb on the TMB objective from the optimum and
##    from a perturbed start.
##  - scalar random-intercept GLMMs: the Laplace approximation with the observed and with
##    the expected (Fisher) information, and the exact marginal log-likelihood (integrate),
##    recomputed at the reported parameters by independent code (laplace_check).

suppressPackageStartupMessages({
  library(lme4)
  library(glmmTMB)
  library(performance)
  library(insight)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

classic_dir <- file.path("mixedext", "datasets", "data")
sim_dir <- file.path("tests", "reference", "data")
out_file <- file.path("tests", "reference", "count_reference.json")
t_start <- Sys.time()

## ---- controls -----------------------------------------------------------------------
## tolerance of lme4's inner penalised IRLS (conditional modes). Its convergence test is on
## the relative change of the penalised weighted RSS, which is quadratic in the error of
## the modes, while the Laplace log-determinant is linear in it: with 1e-12 (the value of
## glmer_reference.R) poisson_nested_laplace's logLik was still 3.1e-5 below the exact
## Laplace value (glmmTMB's) at the same parameters; 1e-14 removes that. glmer's Gamma
## PIRLS fails at 1e-14 (earthquake: "PIRLS step-halvings failed"), so the two glmer Gamma
## cases use 1e-12 (their objective is not the exact Laplace anyway, see glmer_gamma).
tol_pwrss <- 1e-14
make_gctrl <- function(tol) list(
  bobyqa = glmerControl(optimizer = "bobyqa",
                        optCtrl = list(maxfun = 1e5, rhoend = 1e-10),
                        tolPwrss = tol),
  nloptwrap = glmerControl(optimizer = "nloptwrap",
                           optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14,
                                          maxeval = 1e5),
                           tolPwrss = tol)
)
make_gctrl_text <- function(tol) list(
  bobyqa = sprintf("glmerControl(optimizer = 'bobyqa', optCtrl = list(maxfun = 1e5, rhoend = 1e-10), tolPwrss = %g)", tol),
  nloptwrap = sprintf("glmerControl(optimizer = 'nloptwrap', optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, maxeval = 1e5), tolPwrss = %g)", tol)
)
gctrl <- make_gctrl(tol_pwrss)
gctrl_text <- make_gctrl_text(tol_pwrss)
case_tol <- function(cs) if (is.null(cs$tolPwrss)) tol_pwrss else cs$tolPwrss
case_gctrl <- function(cs) make_gctrl(case_tol(cs))
lctrl <- lmer_tight_controls()
lctrl_text <- list(
  bobyqa = "lmerControl(optimizer = 'bobyqa', optCtrl = list(rhobeg = 2e-4, rhoend = 2e-10, maxfun = 1e5))",
  nloptwrap = "lmerControl(optimizer = 'nloptwrap', optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, maxeval = 1e5))"
)
nb_theta_tol <- 1e-10

## central-difference Jacobian of a gradient function (symmetrised)
fd_hess <- function(gr, p, h = 1e-5) {
  k <- length(p)
  H <- matrix(0, k, k)
  for (j in seq_len(k)) {
    e <- numeric(k)
    e[j] <- h * max(1, abs(p[j]))
    H[, j] <- (gr(p + e) - gr(p - e)) / (2 * e[j])
  }
  (H + t(H)) / 2
}

## glmmTMB "optimizer": a base optimizer, then Newton steps on TMB's gradient
newton_polish <- function(par, fn, gr, base) {
  steps <- 0L
  p <- par
  f0 <- fn(p)
  for (k in 1:20) {
    g <- as.numeric(gr(p))
    if (max(abs(g)) < 1e-9) break
    H <- fd_hess(function(q) as.numeric(gr(q)), p)
    step <- tryCatch(solve(H, g), error = function(e) NULL)
    if (is.null(step)) break
    t <- 1
    repeat {
      pn <- p - t * step
      fnew <- fn(pn)
      if (is.finite(fnew) && fnew <= f0 + 1e-12) break
      t <- t / 2
      if (t < 1e-4) break
    }
    if (t < 1e-4) break
    p <- pn
    f0 <- fnew
    steps <- steps + 1L
  }
  names(p) <- names(par)
  list(par = p, objective = fn(p), newton_steps = steps,
       max_abs_grad = max(abs(as.numeric(gr(p)))), base_objective = base$objective)
}
tmb_nlminb_newton <- function(par, fn, gr, control = list(), ...) {
  o <- nlminb(par, fn, gr, control = list(iter.max = 1e4, eval.max = 1e4))
  pol <- newton_polish(o$par, fn, gr, o)
  list(par = pol$par, objective = pol$objective, convergence = o$convergence,
       message = sprintf("nlminb: %s; then %d Newton steps, max|grad| = %.2e", o$message,
                         pol$newton_steps, pol$max_abs_grad),
       iterations = o$iterations, evaluations = o$evaluations,
       base_objective = o$objective, newton_steps = pol$newton_steps,
       max_abs_grad = pol$max_abs_grad)
}
tmb_bfgs_newton <- function(par, fn, gr, control = list(), ...) {
  o <- optim(par, fn, gr, method = "BFGS", control = list(reltol = 1e-15, maxit = 1e4))
  o$objective <- o$value
  pol <- newton_polish(o$par, fn, gr, o)
  list(par = pol$par, objective = pol$objective, convergence = o$convergence,
       message = sprintf("optim(BFGS): code %d; then %d Newton steps, max|grad| = %.2e",
                         o$convergence, pol$newton_steps, pol$max_abs_grad),
       iterations = o$counts[2], evaluations = o$counts,
       base_objective = o$value, newton_steps = pol$newton_steps,
       max_abs_grad = pol$max_abs_grad)
}
tctrl <- list(
  nlminb = glmmTMBControl(optimizer = tmb_nlminb_newton),
  bfgs = glmmTMBControl(optimizer = tmb_bfgs_newton)
)
tctrl_text <- list(
  nlminb = "glmmTMBControl(optimizer = <nlminb(iter.max = 1e4, eval.max = 1e4) then Newton steps on TMB's gradient until max|grad| < 1e-9>)",
  bfgs = "glmmTMBControl(optimizer = <optim(method = 'BFGS', reltol = 1e-15, maxit = 1e4) then Newton steps until max|grad| < 1e-9>)"
)

## ---- data ---------------------------------------------------------------------------
## factors: list(column = NULL (sorted: numerically for integer codes, else by code point,
## i.e. sort(method = "radix"), locale-independent) or explicit levels)
dataset <- function(name, path, factors, derive = NULL, label = name)
  list(data = label, path = path, factors = factors, derive = derive)
read_case_data <- function(ds) {
  d <- read.csv(ds$path, stringsAsFactors = FALSE)
  for (f in names(ds$factors)) {
    lev <- ds$factors[[f]]
    if (is.null(lev)) lev <- sort(unique(d[[f]]), method = "radix")
    d[[f]] <- factor(d[[f]], levels = lev)
  }
  if (!is.null(ds$derive)) d <- ds$derive(d)
  d
}
sim <- function(file, factors)
  dataset(file, file.path(sim_dir, file), factors, label = file.path(sim_dir, file))
pub <- function(name, factors, derive = NULL)
  dataset(name, file.path(classic_dir, paste0(name, ".csv")), factors, derive)

ds_pois <- sim("poisson_nested.csv", list(a = NULL, b = NULL, trt = NULL))
ds_nb <- sim("nb_ri.csv", list(unit = NULL))
ds_gamma <- sim("gamma_ri.csv", list(unit = NULL))
ds_lmm <- sim("lmm_weighted.csv", list(g = NULL))
ds_grouse <- pub("grouseticks", list(INDEX = NULL, BROOD = NULL, YEAR = NULL, LOCATION = NULL),
                 derive = function(d) {
                   d$HEIGHT_s <- (d$HEIGHT - mean(d$HEIGHT)) / sd(d$HEIGHT)
                   d
                 })
ds_owls <- pub("owls", list(
  Nest = c("AutavauxTV", "Bochet", "Champmartin", "ChEsard", "Chevroux", "CorcellesFavres",
           "Etrabloz", "Forel", "Franex", "GDLV", "Gletterens", "Henniez", "Jeuss",
           "LesPlanches", "Lucens", "Lully", "Marnand", "Montet", "Murist", "Oleyes",
           "Payerne", "Rueyes", "Seiry", "Sevaz", "StAubin", "Trey", "Yvonnand"),
  FoodTreatment = NULL, SexParent = NULL))
ds_sal <- pub("salamanders", list(site = NULL, mined = c("yes", "no")))
ds_quake <- pub("earthquake", list(Quake = NULL, soil = NULL))
ds_cbpp <- pub("cbpp", list(herd = NULL, period = NULL))

## ---- cases --------------------------------------------------------------------------
f_pois_nested <- "y ~ x + trt + offset(log(exposure)) + (1 | a/b)"
f_pois_ri <- "y ~ x + trt + offset(log(exposure)) + (1 | a)"
f_grouse3 <- "TICKS ~ YEAR + HEIGHT_s + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"
f_grouse2 <- "TICKS ~ YEAR + HEIGHT_s + (1 | BROOD) + (1 | LOCATION)"
f_nb <- "y ~ x + (1 | unit)"
f_owls <- "SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest)"
f_sal <- "count ~ mined + (1 | site)"
f_gamma <- "y ~ x + (1 | unit)"
f_quake <- "accel ~ log(distance) + Richter + (1 | Quake)"

cases <- list(
  ## Poisson
  poisson_nested_laplace = list(engine = "glmer", family = "poisson", formula = f_pois_nested,
                                nAGQ = 1, ds = ds_pois, offset = "log(exposure)",
                                perf = TRUE, tmb_check = TRUE),
  poisson_ri_laplace = list(engine = "glmer", family = "poisson", formula = f_pois_ri, nAGQ = 1,
                            ds = ds_pois, offset = "log(exposure)", perf = TRUE,
                            tmb_check = TRUE, residuals = TRUE),
  poisson_ri_agq15 = list(engine = "glmer", family = "poisson", formula = f_pois_ri, nAGQ = 15,
                          ds = ds_pois, offset = "log(exposure)", perf = FALSE),
  poisson_ri_weighted_laplace = list(engine = "glmer", family = "poisson", formula = f_pois_ri,
                                     nAGQ = 1, ds = ds_pois, offset = "log(exposure)",
                                     weights = "w", perf = FALSE, tmb_check = TRUE,
                                     residuals = TRUE),
  grouseticks_laplace = list(engine = "glmer", family = "poisson", formula = f_grouse3,
                             nAGQ = 1, ds = ds_grouse, perf = TRUE, tmb_check = TRUE),
  grouseticks_2re_laplace = list(engine = "glmer", family = "poisson", formula = f_grouse2,
                                 nAGQ = 1, ds = ds_grouse, perf = TRUE, tmb_check = TRUE),
  ## negative binomial (NB2)
  nb_sim_glmer_nb = list(engine = "glmer.nb", family = "nbinom2", formula = f_nb, ds = ds_nb,
                         perf = TRUE, residuals = TRUE),
  nb_sim_glmmTMB = list(engine = "glmmTMB", family = "nbinom2", formula = f_nb, ds = ds_nb,
                        perf = TRUE, residuals = TRUE),
  owls_glmer_nb = list(engine = "glmer.nb", family = "nbinom2", formula = f_owls, ds = ds_owls,
                       offset = "log(BroodSize)", perf = TRUE),
  owls_glmmTMB = list(engine = "glmmTMB", family = "nbinom2", formula = f_owls, ds = ds_owls,
                      offset = "log(BroodSize)", perf = TRUE),
  salamanders_glmer_nb = list(engine = "glmer.nb", family = "nbinom2", formula = f_sal,
                              ds = ds_sal, perf = TRUE),
  salamanders_glmmTMB = list(engine = "glmmTMB", family = "nbinom2", formula = f_sal,
                             ds = ds_sal, perf = TRUE),
  ## Gamma, log link
  gamma_sim_glmmTMB = list(engine = "glmmTMB", family = "Gamma", formula = f_gamma,
                           ds = ds_gamma, perf = TRUE, residuals = TRUE),
  gamma_sim_glmer = list(engine = "glmer", family = "Gamma", formula = f_gamma, nAGQ = 1,
                         ds = ds_gamma, perf = TRUE, residuals = TRUE, tolPwrss = 1e-12),
  gamma_sim_weighted_glmmTMB = list(engine = "glmmTMB", family = "Gamma", formula = f_gamma,
                                    ds = ds_gamma, weights = "w", perf = FALSE),
  gamma_sim_dispweights_glmmTMB = list(engine = "glmmTMB", family = "Gamma",
                                       formula = f_gamma, ds = ds_gamma,
                                       dispformula = "~ 1 + offset(log(w))",
                                       disp_weights = "w", perf = FALSE),
  earthquake_glmmTMB = list(engine = "glmmTMB", family = "Gamma", formula = f_quake,
                            ds = ds_quake, perf = TRUE),
  earthquake_glmer = list(engine = "glmer", family = "Gamma", formula = f_quake, nAGQ = 1,
                          ds = ds_quake, perf = TRUE, tolPwrss = 1e-12),
  ## linear mixed models with prior weights / an offset
  lmm_weighted_slope = list(engine = "lmer", family = "gaussian",
                            formula = "y ~ x + (1 + x | g)", ds = ds_lmm, weights = "w"),
  lmm_offset = list(engine = "lmer", family = "gaussian",
                    formula = "y ~ x + offset(o) + (1 | g)", ds = ds_lmm, offset = "o"),
  lmm_weighted_offset_slope = list(engine = "lmer", family = "gaussian",
                                   formula = "y ~ x + offset(o) + (1 + x | g)", ds = ds_lmm,
                                   weights = "w", offset = "o"),
  cbpp_weighted = list(engine = "lmer", family = "gaussian",
                       formula = "I(incidence/size) ~ period + (1 | herd)", ds = ds_cbpp,
                       weights = "size")
)

family_text <- c(poisson = "poisson(link = 'log')",
                 nbinom2 = "negative binomial NB2 (log link): Var(y) = mu + mu^2 / size",
                 Gamma = "Gamma(link = 'log')", gaussian = "gaussian (identity)")

## ---- helpers ------------------------------------------------------------------------
`%||%` <- function(a, b) if (is.null(a)) b else a
## common.R's quietly(), an error recorded instead of raised
quietly_all <- function(expr) quietly(expr, errors = TRUE)
as_json_num <- function(x) {
  if (is.null(x)) return(NULL)
  if (!is.null(names(x)) && length(x) >= 1) as.list(x) else unname(x)
}
first10 <- function(x) I(unname(as.numeric(x))[1:10])
lme4_family <- function(cs, size = NULL) switch(cs$family,
  poisson = poisson(link = "log"),
  Gamma = Gamma(link = "log"),
  nbinom2 = MASS::negative.binomial(theta = size, link = "log"))

## ---- fitting ------------------------------------------------------------------------
fit_glmer <- function(cs, d, o, start = NULL, devFunOnly = FALSE) {
  f <- as.formula(cs$formula)
  fam <- lme4_family(cs)
  ctl_o <- case_gctrl(cs)[[o]]
  quietly_all(if (is.null(cs$weights))
    glmer(f, data = d, family = fam, nAGQ = cs$nAGQ, control = ctl_o, start = start,
          devFunOnly = devFunOnly)
  else
    glmer(f, data = d, family = fam, nAGQ = cs$nAGQ, control = ctl_o, start = start,
          devFunOnly = devFunOnly, weights = .w))
}
fit_glmer_nb <- function(cs, d, o) {
  f <- as.formula(cs$formula)
  ctl_o <- case_gctrl(cs)[[o]]
  ## lme4's own glmer.nb (outer optimize over log(size) with its default tol = 5e-5)
  r0 <- quietly_all(glmer.nb(f, data = d, control = ctl_o))
  m0 <- r0$value
  th0 <- getME(m0, "glmer.nb.theta")
  ## the same outer step with tol = 1e-10, every evaluation a fresh tight glmer fit at
  ## fixed size started from glmer.nb's estimates (a smooth function of log(size))
  st <- list(theta = getME(m0, "theta"), fixef = fixef(m0))
  nev <- 0L
  prof <- function(t) {
    nev <<- nev + 1L
    crit(fit_glmer_fixed_nb(cs, d, o, exp(t), start = st)$value)
  }
  iv <- log(th0) + c(-0.2, 0.2)
  op <- optimize(prof, iv, tol = nb_theta_tol)
  stopifnot(op$minimum > iv[1] + 1e-3, op$minimum < iv[2] - 1e-3)
  size <- exp(op$minimum)
  ## the reported fit: glmer at that size from lme4's default start
  r1 <- fit_glmer_fixed_nb(cs, d, o, size)
  r1$msgs <- c(r0$msgs, r1$msgs)
  r1$glmer_nb <- list(logLik = as.numeric(logLik(m0)), nb_size = th0,
                      fixef = as.list(fixef(m0)), theta = I(unname(getME(m0, "theta"))),
                      messages = I(r0$msgs))
  r1$profile <- list(minus2logLik = op$objective, evaluations = nev,
                     interval = I(exp(iv)))
  r1$m0 <- m0
  r1
}
## glmer at a fixed NB size (for the checks)
fit_glmer_fixed_nb <- function(cs, d, o, size, start = NULL, devFunOnly = FALSE) {
  f <- as.formula(cs$formula)
  quietly_all(glmer(f, data = d, family = MASS::negative.binomial(theta = size),
                control = case_gctrl(cs)[[o]], start = start, devFunOnly = devFunOnly))
}
fit_tmb <- function(cs, d, o) {
  f <- as.formula(cs$formula)
  fam <- switch(cs$family, poisson = poisson(link = "log"), nbinom2 = nbinom2(link = "log"),
                Gamma = Gamma(link = "log"))
  disp <- if (is.null(cs$dispformula)) ~1 else as.formula(cs$dispformula)
  ## the call is built with its values inlined (data stays the symbol d, the case data in
  ## the global environment) so that insight::null_model() can re-evaluate it
  cl <- if (is.null(cs$weights))
    bquote(glmmTMB(.(f), data = d, family = .(fam), dispformula = .(disp),
                   control = .(tctrl[[o]])))
  else
    bquote(glmmTMB(.(f), data = d, family = .(fam), dispformula = .(disp),
                   control = .(tctrl[[o]]), weights = .w))
  quietly_all(eval(cl))
}
fit_lmer <- function(cs, d, reml, o, start = NULL, devFunOnly = FALSE) {
  f <- as.formula(cs$formula)
  quietly_all(if (is.null(cs$weights))
    lmer(f, data = d, REML = reml, control = lctrl[[o]], start = start, devFunOnly = devFunOnly)
  else
    lmer(f, data = d, REML = reml, control = lctrl[[o]], start = start, devFunOnly = devFunOnly,
         weights = .w))
}

crit <- function(m) -2 * as.numeric(logLik(m))

## ---- extraction ---------------------------------------------------------------------
varcorr_rows_tmb <- function(m) {
  vc <- VarCorr(m)$cond
  rows <- list()
  for (g in names(vc)) {
    v <- vc[[g]]
    sds <- attr(v, "stddev")
    cr <- attr(v, "correlation")
    nm <- names(sds)
    for (i in seq_along(nm))
      rows[[length(rows) + 1]] <- list(grp = g, var1 = nm[i], var2 = NA, vcov = v[i, i],
                                       sdcor = unname(sds[i]))
    if (length(nm) > 1) for (i in 1:(length(nm) - 1)) for (j in (i + 1):length(nm))
      rows[[length(rows) + 1]] <- list(grp = g, var1 = nm[i], var2 = nm[j], vcov = v[i, j],
                                       sdcor = cr[i, j])
  }
  rows
}
ranef_blocks_tmb <- function(m) {
  re <- ranef(m, condVar = TRUE)$cond
  ## purely conditional SDs: inverse of the Hessian of the joint negative log-density in
  ## the random effects at the optimum (theta, beta fixed), as lme4's condVar
  e <- m$obj$env
  H <- e$spHess(e$last.par.best, random = TRUE)
  csd <- sqrt(diag(solve(as.matrix(H))))
  out <- list()
  pos <- 0
  for (g in names(re)) {                      # TMB's b order = the order of the terms
    r <- re[[g]]
    k <- nrow(r) * ncol(r)
    stopifnot(ncol(r) == 1)                   # scalar terms only in these cases
    out[[g]] <- list(
      levels = I(as.character(rownames(r))),
      terms = I(colnames(r)),
      values = unname(as.matrix(r)),
      condsd = unname(matrix(sqrt(attr(r, "condVar")[1, 1, ]), ncol = 1)),
      condsd_conditional = unname(matrix(csd[pos + seq_len(k)], ncol = 1)))
    pos <- pos + k
  }
  stopifnot(pos == length(csd))
  out
}
ngroups_lme4 <- function(m) as.list(ngrps(m))
ngroups_tmb <- function(m) as.list(sapply(m$modelInfo$reTrms$cond$flist, nlevels))

## variance of each row's random part z_i' Sigma z_i (for the marginal mean of log-link
## models); random intercepts only
row_re_variance <- function(varcorr) {
  v <- 0
  for (r in varcorr) {
    if (r$grp == "Residual") next
    stopifnot(r$var1 == "(Intercept)", is.na(r$var2))
    v <- v + r$vcov
  }
  v
}

## ---- independent Laplace / exact marginal likelihood for one scalar random intercept --
## conditional log-density per row as a function of the linear predictor eta, its first
## derivative and minus its second derivative (observed) and the Fisher information
cond_family <- function(family, y, mult, size = NULL, shape = NULL) {
  switch(family,
    poisson = list(
      ll = function(eta) mult * dpois(y, exp(eta), log = TRUE),
      d1 = function(eta) mult * (y - exp(eta)),
      obs = function(eta) mult * exp(eta),
      fisher = function(eta) mult * exp(eta)),
    nbinom2 = list(
      ll = function(eta) mult * dnbinom(y, size = size, mu = exp(eta), log = TRUE),
      d1 = function(eta) { mu <- exp(eta); mult * size * (y - mu) / (mu + size) },
      obs = function(eta) { mu <- exp(eta); mult * size * mu * (y + size) / (mu + size)^2 },
      fisher = function(eta) { mu <- exp(eta); mult * mu * size / (mu + size) }),
    Gamma = list(
      ll = function(eta) mult * dgamma(y, shape = shape, scale = exp(eta) / shape, log = TRUE),
      d1 = function(eta) mult * shape * (y / exp(eta) - 1),
      obs = function(eta) mult * shape * y / exp(eta),
      fisher = function(eta) mult * shape))
}
laplace_check <- function(family, y, eta_fixed, group, sd_b, mult = 1, size = NULL,
                          shape = NULL) {
  n <- length(y)
  mult <- rep_len(mult, n)
  if (!is.null(shape)) shape <- rep_len(shape, n)
  tot <- c(observed = 0, expected = 0, integrate = 0)
  max_score <- 0
  for (lev in levels(group)) {
    i <- which(group == lev)
    cf <- cond_family(family, y[i], mult[i], size, shape[i])
    e <- eta_fixed[i]
    h <- function(u) sum(cf$ll(e + u)) - u^2 / (2 * sd_b^2)
    u <- 0
    for (it in 1:200) {                       # Newton with step halving (h is concave)
      g <- sum(cf$d1(e + u)) - u / sd_b^2
      H <- sum(cf$obs(e + u)) + 1 / sd_b^2
      step <- g / H
      t <- 1
      while (h(u + t * step) < h(u) - 1e-12 && t > 1e-8) t <- t / 2
      u <- u + t * step
      if (abs(step) < 1e-13) break
    }
    max_score <- max(max_score, abs(sum(cf$d1(e + u)) - u / sd_b^2))
    h0 <- h(u)
    Hobs <- sum(cf$obs(e + u)) + 1 / sd_b^2
    Hexp <- sum(cf$fisher(e + u)) + 1 / sd_b^2
    const <- -0.5 * log(2 * pi * sd_b^2)
    tot["observed"] <- tot["observed"] + h0 + const + 0.5 * log(2 * pi / Hobs)
    tot["expected"] <- tot["expected"] + h0 + const + 0.5 * log(2 * pi / Hexp)
    s <- 1 / sqrt(Hobs)
    f <- function(t) vapply(t, function(tt) {
      v <- suppressWarnings(h(u + s * tt))
      if (is.finite(v)) exp(v - h0) else 0
    }, 0)
    I <- integrate(f, -Inf, Inf, rel.tol = 1e-12, abs.tol = 0, subdivisions = 1000L)$value
    tot["integrate"] <- tot["integrate"] + h0 + const + log(s * I)
  }
  list(laplace_observed = unname(tot["observed"]), laplace_expected = unname(tot["expected"]),
       integrate = unname(tot["integrate"]), max_abs_score_at_mode = max_score)
}

## ---- performance --------------------------------------------------------------------
performance_block <- function(m) {
  ic <- quietly_all(performance::icc(m))
  r2 <- quietly_all(performance::r2_nakagawa(m))
  gv <- quietly_all(insight::get_variance(m))
  nm <- quietly_all(insight::null_model(m))
  null_int <- if (is.null(nm$value)) NA else
    unname(if (inherits(nm$value, "glmmTMB")) fixef(nm$value)$cond[1] else fixef(nm$value)[1])
  list(
    icc_adjusted = if (is.null(ic$value)) NA else ic$value$ICC_adjusted,
    icc_unadjusted = if (is.null(ic$value)) NA else ic$value$ICC_unadjusted,
    icc_messages = I(c(ic$msgs, squish(ic$console))),
    r2_marginal = if (is.null(r2$value)) NA else unname(r2$value$R2_marginal),
    r2_conditional = if (is.null(r2$value)) NA else unname(r2$value$R2_conditional),
    r2_messages = I(c(r2$msgs, squish(r2$console))),
    get_variance = if (is.null(gv$value)) NULL else lapply(gv$value, as_json_num),
    get_variance_messages = I(c(gv$msgs, squish(gv$console))),
    null_model_intercept = null_int,
    null_model_mu = exp(null_int),
    null_model_formula = if (is.null(nm$value)) NA else
      squish(paste(deparse(formula(nm$value)), collapse = " ")),
    null_model_messages = I(nm$msgs),
    null_model_nb_size = if (is.null(nm$value)) NA else
      if (inherits(nm$value, "glmmTMB")) {
        if (family(nm$value)$family == "nbinom2") sigma(nm$value) else NA
      } else if (grepl("Negative Binomial", family(nm$value)$family))
        getME(nm$value, "glmer.nb.theta") else NA)
}

## ---- common parts of an entry ---------------------------------------------------------
offset_vector <- function(cs, d) if (is.null(cs$offset)) rep(0, nrow(d)) else
  eval(parse(text = cs$offset), d)

fitted_block <- function(m, cs, d, X, beta, varcorr, log_link) {
  cond <- fitted(m)
  pop <- predict(m, re.form = NA, type = "response")
  eta_pop <- as.vector(X %*% beta) + offset_vector(cs, d)
  pop_hand <- if (log_link) exp(eta_pop) else eta_pop
  out <- list(
    fitted_conditional_first10 = first10(cond),
    fitted_population_first10 = first10(pop),
    linpred_population_first10 = first10(eta_pop),
    check_population_by_hand_max_abs_diff = max(abs(pop - pop_hand)))
  if (log_link && !is.null(varcorr)) {
    v <- row_re_variance(varcorr)
    out$fitted_marginal_mean_first10 <- first10(exp(eta_pop + v / 2))
    out$marginal_mean_re_variance <- v
  }
  out
}

residuals_block <- function(m, engine) {
  rp <- quietly_all(residuals(m, type = "pearson"))
  rr <- quietly_all(residuals(m, type = "response"))
  out <- list(
    pearson_first10 = if (is.null(rp$value)) NULL else first10(rp$value),
    pearson_chi2 = if (is.null(rp$value)) NA else sum(rp$value^2),
    response_first10 = if (is.null(rr$value)) NULL else first10(rr$value),
    messages = I(c(rp$msgs, rr$msgs)))
  if (engine != "glmmTMB") {
    rd <- residuals(m, type = "deviance")
    out$deviance_first10 <- first10(rd)
    out$deviance <- deviance(m)
    out$deviance_sum_sq_deviance_residuals <- sum(rd^2)
  }
  out
}

glmer_checks <- function(cs, d, m, best_name, other_name, fits, refit_other, devf) {
  check_start <- "theta and fixef"
  check <- refit_other(start = list(theta = getME(m, "theta"), fixef = fixef(m)))
  if (is.null(check$value)) {
    ## (glmer's Gamma PIRLS can fail from a given fixef; then theta only)
    check_start <- paste("theta only (from theta and fixef:", paste(check$msgs, collapse = "; "), ")")
    check <- refit_other(start = list(theta = getME(m, "theta")))
  }
  th <- getME(m, "theta")
  lower_th <- getME(m, "lower")
  par0 <- c(th, fixef(m))
  lower <- c(lower_th, rep(-Inf, length(fixef(m))))
  nl <- nlminb(par0, devf, lower = lower,
               control = list(eval.max = 1e4, iter.max = 1e4, rel.tol = 1e-14))
  nlp <- nlminb(c(th * 1.2, fixef(m) + 0.1), devf, lower = lower,
                control = list(eval.max = 1e4, iter.max = 1e4, rel.tol = 1e-14))
  Hn <- numDeriv::hessian(devf, par0)
  ib <- -seq_along(th)
  se_n <- sqrt(diag((2 * solve(Hn))[ib, ib, drop = FALSE]))
  se_l <- sqrt(diag(as.matrix(vcov(m))))
  pars <- function(f) c(getME(f$value, "theta"), fixef(f$value))
  list(
    check_optimizer = other_name,
    check_start = check_start,
    check_minus2logLik_diff = crit(check$value) - crit(m),
    check_messages = I(check$msgs),
    check_nlminb_minus2logLik_diff = nl$objective - crit(m),
    check_nlminb_message = nl$message,
    check_nlminb_perturbed_minus2logLik_diff = nlp$objective - crit(m),
    check_nlminb_perturbed_max_abs_par_diff = max(abs(nlp$par - par0)),
    check_nlminb_perturbed_message = nlp$message,
    optimizer_max_abs_par_diff = max(abs(pars(fits[[1]]) - pars(fits[[2]]))),
    fixef_se_numderiv = as.list(setNames(se_n, names(fixef(m)))),
    check_se_numderiv_max_rel_diff = max(abs(se_n / se_l - 1)),
    check_devfun_at_optimum_minus_reported = devf(par0) - crit(m))
}

conv_info <- function(m, best_msgs) {
  lme4_msgs <- as.character(unlist(m@optinfo$conv$lme4$messages))
  conv_msgs <- unique(c(lme4_msgs, sub("^(warning|message): ", "", best_msgs)))
  list(converged = m@optinfo$conv$opt == 0 && !any(grepl("^warning:", best_msgs)) &&
         all(grepl("boundary \\(singular\\) fit", conv_msgs)),
       converged_messages = I(as.character(conv_msgs)))
}

lme4_core <- function(m) {
  fe <- fixef(m)
  V <- as.matrix(vcov(m))
  th <- getME(m, "theta")
  list(
    nobs = nobs(m),
    ngroups = ngroups_lme4(m),
    logLik = as.numeric(logLik(m)),
    minus2logLik = crit(m),
    df = attr(logLik(m), "df"),
    AIC = AIC(m),
    BIC = BIC(m),
    fixef_names = I(names(fe)),
    fixef = as.list(fe),
    fixef_se = as.list(setNames(sqrt(diag(V)), names(fe))),
    vcov = unname(V),
    theta = I(unname(th)),
    theta_names = I(names(th)),
    varcorr = varcorr_rows(m),
    ranef = ranef_blocks(m),
    singular = isSingular(m))
}

## ---- engines ------------------------------------------------------------------------
run_glmer <- function(cname, cs, d) {
  fits <- lapply(names(gctrl), function(o) fit_glmer(cs, d, o))
  names(fits) <- names(gctrl)
  crits <- sapply(fits, function(f) crit(f$value))
  best_name <- names(gctrl)[which.min(crits)]
  other_name <- setdiff(names(gctrl), best_name)
  best <- fits[[best_name]]
  m <- best$value
  devf <- fit_glmer(cs, d, best_name, devFunOnly = TRUE)$value
  chk <- glmer_checks(cs, d, m, best_name, other_name, fits,
                      function(start) fit_glmer(cs, d, other_name, start = start), devf)
  core <- lme4_core(m)
  X <- getME(m, "X")
  e <- c(core,
         list(optimizer = best_name, optimizer_control = make_gctrl_text(case_tol(cs))[[best_name]],
              tolPwrss = case_tol(cs),
              optimizer_code = m@optinfo$conv$opt,
              optimizer_minus2logLik = as.list(crits),
              optimizer_messages = lapply(fits, function(f) I(f$msgs))),
         chk, conv_info(m, best$msgs),
         fitted_block(m, cs, d, X, fixef(m), if (cs$family == "Gamma") NULL else core$varcorr,
                      TRUE))
  if (cs$family == "Gamma") {
    ## what glmer reports for the Gamma family
    n <- nrow(d)
    mu <- fitted(m)
    wt <- weights(m)
    y <- getME(m, "y")
    dev <- sum(Gamma()$dev.resids(y, mu, wt))
    aic_part <- Gamma()$aic(y, n, mu, wt, dev)
    cmp <- m@devcomp$cmp
    e$glmer_gamma <- list(
      sigma = sigma(m),
      sigma_sq = sigma(m)^2,
      pwrss = unname(cmp["pwrss"]), wrss = unname(cmp["wrss"]), ussq = unname(cmp["ussq"]),
      ldL2 = unname(cmp["ldL2"]),
      sigma_sq_equals_pwrss_over_n = unname(cmp["pwrss"]) / n,
      conditional_deviance = dev,
      dispersion_in_logLik = dev / sum(wt),
      shape_in_logLik = sum(wt) / dev,
      gamma_aic_term = aic_part,
      check_minus2logLik_equals_aic_plus_ussq_plus_ldL2 =
        aic_part + unname(cmp["ussq"]) + unname(cmp["ldL2"]) - crit(m),
      theta_times_sigma = unname(getME(m, "theta")) * sigma(m),
      re_sd_in_linear_predictor = unname(getME(m, "theta")),
      check_b_equals_theta_u_max_abs_diff =
        max(abs(as.vector(getME(m, "b")) - unname(getME(m, "theta")[1]) *
                  as.vector(getME(m, "u")))))
    e$sigma <- sigma(m)
  }
  ## log-likelihood scales (nAGQ > 1: lme4's logLik is relative to the saturated model)
  y <- getME(m, "y")
  w <- weights(m)
  e$log_saturated <- if (cs$family == "poisson") sum(w * dpois(y, y, log = TRUE)) else NA
  e$logLik_absolute <- e$logLik + if (cs$nAGQ > 1) e$log_saturated else 0
  if (length(getME(m, "theta")) == 1 && cs$family == "poisson") {
    lc <- laplace_check("poisson", y, as.vector(X %*% fixef(m)) + offset_vector(cs, d),
                        getME(m, "flist")[[1]], unname(getME(m, "theta")), mult = w)
    e$laplace_check <- lc
  }
  if (isTRUE(cs$tmb_check)) {
    t <- quietly_all(if (is.null(cs$weights))
      glmmTMB(as.formula(cs$formula), data = d, family = poisson, control = tctrl$nlminb)
    else glmmTMB(as.formula(cs$formula), data = d, family = poisson, control = tctrl$nlminb,
                 weights = .w))
    tm <- t$value
    tp <- tm$fit$par
    tp_l <- tp
    tp_l[names(tp) == "beta"] <- fixef(m)
    sd1 <- function(vc) vapply(vc, function(v) unname(attr(v, "stddev")[1]), 0)
    sd_l <- sd1(VarCorr(m))[names(VarCorr(tm)$cond)]
    tp_l[names(tp) == "theta"] <- log(sd_l)
    ll_at_lme4 <- -tm$obj$fn(tp_l)
    tm$obj$fn(tp)
    e$check_glmmTMB <- list(
      logLik = as.numeric(logLik(tm)),
      fixef = as.list(fixef(tm)$cond),
      fixef_se = as.list(sqrt(diag(vcov(tm)$cond))),
      sd = as.list(sd1(VarCorr(tm)$cond)),
      logLik_at_lme4_estimates = ll_at_lme4,
      logLik_at_lme4_estimates_minus_reported = ll_at_lme4 - e$logLik,
      logLik_minus_reported = as.numeric(logLik(tm)) - e$logLik_absolute,
      fixef_max_abs_diff = max(abs(fixef(tm)$cond - fixef(m))),
      sd_max_abs_diff = max(abs(sd1(VarCorr(tm)$cond) - sd_l)),
      messages = I(t$msgs))
  }
  if (isTRUE(cs$residuals)) e$residuals <- residuals_block(m, "glmer")
  if (isTRUE(cs$perf)) e$performance <- performance_block(m)
  e
}

run_glmer_nb <- function(cname, cs, d) {
  fits <- lapply(names(gctrl), function(o) fit_glmer_nb(cs, d, o))
  names(fits) <- names(gctrl)
  crits <- sapply(fits, function(f) crit(f$value))
  best_name <- names(gctrl)[which.min(crits)]
  other_name <- setdiff(names(gctrl), best_name)
  best <- fits[[best_name]]
  m <- best$value
  size <- getME(m, "glmer.nb.theta")
  ## checks at the fixed NB size, as for glmer
  devf <- fit_glmer_fixed_nb(cs, d, best_name, size, devFunOnly = TRUE)$value
  chk <- glmer_checks(cs, d, m, best_name, other_name, fits,
                      function(start) fit_glmer_fixed_nb(cs, d, other_name, size, start = start),
                      devf)
  ## ... and the outer (size) step: profile -2 logLik at size * exp(+-1e-3), refits from
  ## the optimum
  prof <- sapply(c(-1e-3, 1e-3), function(h) crit(fit_glmer_fixed_nb(
    cs, d, best_name, size * exp(h),
    start = list(theta = getME(m, "theta"), fixef = fixef(m)))$value) - crit(m))
  core <- lme4_core(m)
  X <- getME(m, "X")
  y <- getME(m, "y")
  e <- c(core,
         list(nb_size = size,
              optimizer = best_name, optimizer_control = make_gctrl_text(case_tol(cs))[[best_name]],
              tolPwrss = case_tol(cs),
              nb_size_tol = nb_theta_tol,
              optimizer_code = m@optinfo$conv$opt,
              optimizer_minus2logLik = as.list(crits),
              optimizer_nb_size = lapply(fits, function(f) getME(f$value, "glmer.nb.theta")),
              optimizer_messages = lapply(fits, function(f) I(f$msgs)),
              nb_size_profile = best$profile,
              glmer_nb_default = best$glmer_nb,
              glmer_nb_default_minus2logLik_minus_reported = -2 * best$glmer_nb$logLik - crit(m)),
         chk,
         list(check_size_profile_minus2logLik_diff = I(prof)),
         conv_info(m, best$msgs),
         fitted_block(m, cs, d, X, fixef(m), core$varcorr, TRUE))
  if (length(getME(m, "theta")) == 1)
    e$laplace_check <- laplace_check("nbinom2", y, as.vector(X %*% fixef(m)) + offset_vector(cs, d),
                                     getME(m, "flist")[[1]], unname(getME(m, "theta")),
                                     size = size)
  if (isTRUE(cs$residuals)) e$residuals <- residuals_block(m, "glmer.nb")
  ## performance on the glmer.nb object itself (its null model is then a glmer.nb fit
  ## with the size re-estimated, as performance does for glmer.nb models)
  if (isTRUE(cs$perf)) {
    e$performance <- performance_block(best$m0)
    e$performance$fit_used <- "the glmer.nb(control = <optimizer's control>) object (glmer_nb_default)"
    e$performance$fit_nb_size <- getME(best$m0, "glmer.nb.theta")
  }
  e
}

run_tmb <- function(cname, cs, d) {
  fits <- lapply(names(tctrl), function(o) fit_tmb(cs, d, o))
  names(fits) <- names(tctrl)
  crits <- sapply(fits, function(f) crit(f$value))
  best_name <- names(tctrl)[which.min(crits)]
  other_name <- setdiff(names(tctrl), best_name)
  best <- fits[[best_name]]
  m <- best$value
  obj <- m$obj
  p <- m$fit$par
  nl <- nlminb(p, obj$fn, obj$gr, control = list(eval.max = 1e4, iter.max = 1e4, rel.tol = 1e-14))
  pp <- p + 0.1 * sign(seq_along(p) %% 2 - 0.5)
  nlp <- nlminb(pp, obj$fn, obj$gr, control = list(eval.max = 1e4, iter.max = 1e4, rel.tol = 1e-14))
  obj$fn(p)                                   # leave the TMB object at the optimum
  fe <- fixef(m)$cond
  V <- as.matrix(vcov(m)$cond)
  vc <- varcorr_rows_tmb(m)
  X <- getME(m, "X")
  y <- m$frame[[1]]
  ofs <- offset_vector(cs, d)
  sig <- sigma(m)
  npar <- setNames(p, make.unique(names(p)))
  e <- list(
    nobs = nobs(m),
    ngroups = ngroups_tmb(m),
    logLik = as.numeric(logLik(m)),
    minus2logLik = crit(m),
    df = attr(logLik(m), "df"),
    AIC = AIC(m),
    BIC = BIC(m),
    fixef_names = I(names(fe)),
    fixef = as.list(fe),
    fixef_se = as.list(setNames(sqrt(diag(V)), names(fe))),
    vcov = unname(V),
    theta = NA,
    tmb_par = as.list(npar),
    tmb_par_names = I(names(p)),
    varcorr = vc,
    ranef = ranef_blocks_tmb(m),
    sigma = sig,
    singular = any(vapply(vc, function(r) is.na(r$var2) && r$sdcor < 1e-4, TRUE)))
  if (cs$family == "nbinom2") {
    e$nb_size <- sig
  } else if (cs$family == "Gamma") {
    e$gamma_shape <- 1 / sig^2
    e$gamma_dispersion_phi <- sig^2
    e$gamma_log_shape_tmb_betad <- unname(p[names(p) == "betad"][1])
  }
  e <- c(e, list(
    optimizer = best_name, optimizer_control = tctrl_text[[best_name]],
    optimizer_code = m$fit$convergence, optimizer_message = m$fit$message,
    optimizer_minus2logLik = as.list(crits),
    optimizer_minus2logLik_before_newton = lapply(fits, function(f) 2 * f$value$fit$base_objective),
    optimizer_max_abs_grad = lapply(fits, function(f) f$value$fit$max_abs_grad),
    optimizer_messages = lapply(fits, function(f) I(f$msgs)),
    optimizer_max_abs_par_diff = max(abs(fits[[1]]$value$fit$par - fits[[2]]$value$fit$par)),
    check_optimizer = "nlminb on the TMB objective (m$obj$fn, m$obj$gr), rel.tol 1e-14",
    check_nlminb_minus2logLik_diff = 2 * nl$objective - crit(m),
    check_nlminb_message = nl$message,
    check_nlminb_perturbed_minus2logLik_diff = 2 * nlp$objective - crit(m),
    check_nlminb_perturbed_max_abs_par_diff = max(abs(nlp$par - p)),
    check_nlminb_perturbed_message = nlp$message,
    max_abs_gradient = max(abs(obj$gr(p))),
    pdHess = m$sdr$pdHess,
    converged = m$fit$convergence == 0 && isTRUE(m$sdr$pdHess) &&
      !any(grepl("^warning:", best$msgs)),
    converged_messages = I(best$msgs)))
  e <- c(e, fitted_block(m, cs, d, X, fe, vc, TRUE))
  if (length(vc) == 1) {
    mult <- if (is.null(cs$weights)) 1 else d[[cs$weights]]
    shape <- NULL
    if (cs$family == "Gamma") {
      shape <- 1 / sig^2
      if (!is.null(cs$disp_weights)) shape <- exp(e$gamma_log_shape_tmb_betad) * d[[cs$disp_weights]]
    }
    e$laplace_check <- laplace_check(cs$family, y, as.vector(X %*% fe) + ofs,
                                     m$modelInfo$reTrms$cond$flist[[1]], vc[[1]]$sdcor,
                                     mult = mult, size = if (cs$family == "nbinom2") sig,
                                     shape = shape)
  }
  if (isTRUE(cs$residuals)) e$residuals <- residuals_block(m, "glmmTMB")
  if (isTRUE(cs$perf)) e$performance <- performance_block(m)
  e
}

## log-likelihood of an lmer fit by dense linear algebra (V = sigma^2 (Z Lambda Lambda' Z' + W^-1))
lmer_direct_loglik <- function(m, y, w, ofs, reml) {
  X <- getME(m, "X")
  Z <- as.matrix(getME(m, "Z"))
  Lam <- as.matrix(getME(m, "Lambda"))
  s2 <- sigma(m)^2
  V <- s2 * (Z %*% Lam %*% t(Lam) %*% t(Z) + diag(1 / w, length(w)))
  Vi <- solve(V)
  yo <- y - ofs
  XtViX <- t(X) %*% Vi %*% X
  b <- solve(XtViX, t(X) %*% Vi %*% yo)
  r <- yo - X %*% b
  ll <- -0.5 * (length(y) * log(2 * pi) + as.numeric(determinant(V)$modulus) +
                  as.numeric(t(r) %*% Vi %*% r))
  if (reml) ll <- ll - 0.5 * as.numeric(determinant(XtViX)$modulus) + 0.5 * ncol(X) * log(2 * pi)
  list(logLik = ll, max_abs_fixef_diff = max(abs(b - fixef(m))))
}

run_lmer <- function(cname, cs, d, reml) {
  fits <- lapply(names(lctrl), function(o) fit_lmer(cs, d, reml, o))
  names(fits) <- names(lctrl)
  crits <- sapply(fits, function(f) crit(f$value))
  best_name <- names(lctrl)[which.min(crits)]
  other_name <- setdiff(names(lctrl), best_name)
  best <- fits[[best_name]]
  m <- best$value
  check <- fit_lmer(cs, d, reml, other_name, start = list(theta = getME(m, "theta")))
  devf <- fit_lmer(cs, d, reml, best_name, devFunOnly = TRUE)$value
  th <- getME(m, "theta")
  nl <- nlminb(th, devf, lower = getME(m, "lower"),
               control = list(eval.max = 1e4, iter.max = 1e4, rel.tol = 1e-14))
  nlp <- nlminb(th * 1.2 + 0.05, devf, lower = getME(m, "lower"),
                control = list(eval.max = 1e4, iter.max = 1e4, rel.tol = 1e-14))
  y <- getME(m, "y")
  w <- weights(m)
  ofs <- offset_vector(cs, d)
  dl <- lmer_direct_loglik(m, y, w, ofs, reml)
  core <- lme4_core(m)
  X <- getME(m, "X")
  c(core,
    list(reml = reml, sigma = sigma(m),
         sum_log_weights = sum(log(w)),
         check_loglik_direct = dl$logLik,
         check_loglik_direct_minus_reported = dl$logLik - core$logLik,
         check_gls_fixef_max_abs_diff = dl$max_abs_fixef_diff,
         optimizer = best_name, optimizer_control = lctrl_text[[best_name]],
         optimizer_code = m@optinfo$conv$opt,
         optimizer_minus2logLik = as.list(crits),
         optimizer_messages = lapply(fits, function(f) I(f$msgs)),
         check_optimizer = other_name,
         check_minus2logLik_diff = crit(check$value) - crit(m),
         check_nlminb_minus2logLik_diff = nl$objective - crit(m),
         check_nlminb_message = nl$message,
         check_nlminb_perturbed_minus2logLik_diff = nlp$objective - crit(m),
         check_nlminb_perturbed_max_abs_par_diff = max(abs(nlp$par - th)),
         optimizer_max_abs_par_diff = max(abs(getME(fits[[1]]$value, "theta") -
                                                getME(fits[[2]]$value, "theta")))),
    conv_info(m, best$msgs),
    fitted_block(m, cs, d, X, fixef(m), NULL, FALSE))
}

## ---- main loop ----------------------------------------------------------------------
results <- list()
for (cname in names(cases)) {
  cs <- cases[[cname]]
  t0 <- Sys.time()
  d <- read_case_data(cs$ds)
  d$.w <- if (is.null(cs$weights)) 1 else d[[cs$weights]]
  head_info <- list(case = cname, engine = switch(cs$engine, glmer = "lme4::glmer",
                                                  glmer.nb = "lme4::glmer.nb",
                                                  glmmTMB = "glmmTMB::glmmTMB",
                                                  lmer = "lme4::lmer"),
                    family = family_text[[cs$family]], formula = cs$formula,
                    nAGQ = if (cs$engine == "glmer") cs$nAGQ else NA,
                    weights = if (is.null(cs$weights)) NA else cs$weights,
                    dispformula = if (is.null(cs$dispformula)) NA else cs$dispformula,
                    offset = if (is.null(cs$offset)) NA else cs$offset,
                    data = cs$ds$data, data_file = cs$ds$path)
  entries <- if (cs$engine == "lmer") {
    lapply(c(TRUE, FALSE), function(reml) c(head_info, run_lmer(cname, cs, d, reml)))
  } else {
    list(c(head_info, switch(cs$engine, glmer = run_glmer(cname, cs, d),
                             glmer.nb = run_glmer_nb(cname, cs, d),
                             glmmTMB = run_tmb(cname, cs, d))))
  }
  for (e in entries) {
    results[[length(results) + 1]] <- e
    cr <- unlist(e$optimizer_minus2logLik)
    cat(sprintf("%-30s %-5s llf=%.8f opt=%-9s |opt diff|=%.1e check=%+.1e nlminb=%+.1e pert=%+.1e conv=%s sing=%s %s%s\n",
                cname, if (is.null(e$reml)) "" else if (e$reml) "REML" else "ML",
                e$logLik, e$optimizer, abs(diff(cr)),
                if (is.null(e$check_minus2logLik_diff)) NA else e$check_minus2logLik_diff,
                e$check_nlminb_minus2logLik_diff, e$check_nlminb_perturbed_minus2logLik_diff,
                e$converged, if (is.null(e$singular)) NA else e$singular,
                if (is.null(e$laplace_check)) "" else
                  sprintf("lap obs-llf=%+.1e exp-llf=%+.1e int-llf=%+.1e ",
                          e$laplace_check$laplace_observed - e$logLik_absolute %||% e$logLik,
                          e$laplace_check$laplace_expected - e$logLik_absolute %||% e$logLik,
                          e$laplace_check$integrate - e$logLik_absolute %||% e$logLik),
                format(round(as.numeric(Sys.time() - t0, units = "secs"), 1))))
    for (mm in unique(c(e$converged_messages, e$performance$icc_messages,
                        e$performance$r2_messages, e$performance$get_variance_messages)))
      cat("    note:", mm, "\n")
  }
}

out <- list(
  meta = list(
    r_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    glmmTMB_version = as.character(packageVersion("glmmTMB")),
    TMB_version = as.character(packageVersion("TMB")),
    matrix_version = as.character(packageVersion("Matrix")),
    minqa_version = as.character(packageVersion("minqa")),
    nloptr_version = as.character(packageVersion("nloptr")),
    MASS_version = as.character(packageVersion("MASS")),
    performance_version = as.character(packageVersion("performance")),
    insight_version = as.character(packageVersion("insight")),
    jsonlite_version = as.character(packageVersion("jsonlite")),
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/count_reference.R",
    run_seconds = round(as.numeric(Sys.time() - t_start, units = "secs"), 1),
    controls = list(glmer = gctrl_text, lmer = lctrl_text, glmmTMB = tctrl_text,
                    glmer_nb_size_tol = nb_theta_tol),
    notes = I(c(
      "See tests/reference/README.md ('Count and positive GLMMs, weighted lmer') for the full description of every case and key.",
      "logLik: lme4's / glmmTMB's log-likelihood (Laplace for nAGQ = 1 and glmmTMB; for nAGQ > 1 lme4's logLik is relative to the saturated model, logLik_absolute = logLik + log_saturated is on the Laplace scale). minus2logLik = -2 logLik. For lmer under REML: the REML log-likelihood.",
      "glmer / glmer.nb fits: both controls from lme4's default start, the higher logLik kept (optimizer, optimizer_minus2logLik). check_minus2logLik_diff: the other optimizer re-started at the reported (theta, fixef), minus reported; check_nlminb_*: nlminb on glmer(..., devFunOnly = TRUE) from the optimum and from theta * 1.2, beta + 0.1 (negative = lower deviance found).",
      "glmer.nb cases: the NB size is the minimiser over log(size) (optimize, tol 1e-10, each evaluation a glmer(family = MASS::negative.binomial(size)) fit with the case's control started from glmer.nb's estimates); the reported model is glmer(family = negative.binomial(nb_size)) from lme4's default start (lme4 counts size in df). glmer_nb_default: plain glmer.nb(control = <control>) with its default tol 5e-5.",
      "glmmTMB fits: nlminb and optim(BFGS), each followed by Newton steps on TMB's exact gradient; the higher logLik kept; check_nlminb_*: nlminb on m$obj$fn from the optimum and from a perturbed start; max_abs_gradient at the reported optimum.",
      "lme4's Laplace uses the expected (Fisher) information of the PIRLS weights in its log-determinant, glmmTMB the observed information (the exact Hessian). For canonical links (Poisson log) they coincide; for NB2 and Gamma with log link they differ, so glmer.nb and glmmTMB(nbinom2) maximise different approximations (laplace_check.laplace_expected reproduces lme4's logLik, laplace_observed glmmTMB's).",
      "laplace_check (single scalar random intercept): at the reported parameters, independent R code: conditional modes by Newton, laplace_observed / laplace_expected = Laplace approximation with the observed / Fisher information, integrate = exact marginal log-likelihood (R's integrate per cluster, rel.tol 1e-12); all on the absolute scale (full densities, prior weights as log-likelihood multipliers where weights is set, per-row shape for dispformula weights).",
      "glmer Gamma: lme4's PIRLS ignores the dispersion (penalised deviance + |u|^2 with b = theta * u), logLik = -(Gamma aic at dispersion = conditional deviance / n + |u|^2 + log|L|^2)/2, sigma = sqrt(pwrss / n), and VarCorr reports sd = theta * sigma although the linear predictor uses b = theta * u (see glmer_gamma). It is not the ML fit of the Gamma GLMM; compare Gamma implementations with the glmmTMB cases.",
      "glmmTMB Gamma: sigma(m) = 1 / sqrt(shape) (the coefficient of variation of y given the random effects); gamma_shape = 1 / sigma^2, gamma_dispersion_phi = sigma^2 (GLM dispersion, Var(y | b) = phi mu^2); the internal betad is log(shape).",
      "Prior weights in GLMMs (glmer and glmmTMB weights = w): each row's conditional log-density is multiplied by w (integer w = replicated rows). gamma_sim_dispweights_glmmTMB instead gives row i the shape shape * w_i (dispformula ~ 1 + offset(log(w)), i.e. Var(y_i | b) = phi mu_i^2 / w_i, GLM dispersion weights). lmer weights: residual variance sigma^2 / w_i (logLik is the proper Gaussian density, including sum(log w) / 2; see check_loglik_direct).",
      "theta = getME(m, 'theta'), lme4's relative covariance factor (no scale for Poisson / NB, so theta = the RE SD for scalar terms; for lmer theta = sd / sigma; for glmer Gamma see glmer_gamma); NA for glmmTMB, whose internal parameters are in tmb_par (beta, betad, theta = log SD of each scalar term).",
      "fitted_conditional_first10 = fitted(m) (response scale, conditional modes included); fitted_population_first10 = predict(m, re.form = NA, type = 'response') (fixed part and offset, random effects 0); linpred_population_first10 = X beta + offset; fitted_marginal_mean_first10 = exp(X beta + offset + v / 2), v = sum of the random-intercept variances (marginal_mean_re_variance), the population-averaged mean of a log-link model.",
      "ranef: values = conditional modes (b, the scale of the linear predictor), condsd = sqrt(diag) of lme4's postVar (conditional on theta, beta) or of glmmTMB's condVar, which includes the uncertainty of the fixed parameters; condsd_conditional (glmmTMB) = conditional only, comparable with lme4's.",
      "performance: icc(m), r2_nakagawa(m), insight::get_variance(m) with their messages; null_model_* = insight::null_model(m), whose exp(intercept) is insight's mu for the distribution-specific variance of log-link count models."
    ))
  ),
  cases = results
)

write_reference(out, out_file)
cat("wrote", out_file, sprintf("(%.1f s)", as.numeric(Sys.time() - t_start, units = "secs")), "\n")
