## metafor references for mixedext.meta_analysis (random-effects meta-analysis and
## meta-regression).
##
## Run from the repository root, after export_datasets.R and make_meta_data.py:
##     Rscript tests/reference/metafor_reference.R
## Writes tests/reference/metafor_reference.json.
##
## Data: metafor's dat.bcg read from the bundled mixedext/datasets/data/bcg.csv (checked
## against dat.bcg), with the log risk ratios of escalc(measure = "RR"), and the simulated
## tests/reference/data/meta_sim.csv. Every case is fitted with rma() for each method
## (REML, ML, DL, PM) and each test (z, knha) at tight controls:
##   rma(..., control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))
## (metafor's defaults, threshold 1e-5 for Fisher scoring and uniroot's tol
## .Machine$double.eps^0.25 for PM, stop ~1e-5 from the solution), and
##   confint(res, control = list(tol = 1e-12))
## for the Q-profile interval of tau^2. Stored per fit: the coefficients and their
## covariance, tau^2, I^2, H^2, QE, QM, fit.stats (ML and REML), confint, predict (at
## new moderator values with moderators), blup, regtest and, without moderators,
## leave1out. For REML and ML, check_optimum maximises logLik(rma(..., tau2 = t)) over t
## with optimize() as an independent check of the Fisher-scoring optimum.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

out_file <- file.path("tests", "reference", "metafor_reference.json")
bcg_file <- file.path("mixedext", "datasets", "data", "bcg.csv")
sim_file <- file.path("tests", "reference", "data", "meta_sim.csv")

ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
ci_ctrl <- list(tol = 1e-12)

bcg <- read.csv(bcg_file, stringsAsFactors = FALSE)
stopifnot(isTRUE(all.equal(bcg, as.data.frame(dat.bcg), check.attributes = FALSE)))
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
sim <- read.csv(sim_file, stringsAsFactors = FALSE)
sim$design <- factor(sim$design)

datasets <- list(
  bcg = list(frame = bcg, file = bcg_file, effect = "yi", variance = "vi", study = "trial"),
  sim = list(frame = sim, file = sim_file, effect = "yi", variance = "vi", study = "study"),
  sim_homog = list(frame = sim, file = sim_file, effect = "yi_homog", variance = "vi",
                   study = "study")
)

## mods_r for metafor, mods_py the same right-hand side for patsy and names_py patsy's
## names of metafor's coefficients, in metafor's order (patsy puts the columns of
## categorical terms before numeric ones); newdata = moderator values for predict()
## (NULL: the pooled effect of a model without moderators)
intercept_only <- list(names_py = "Intercept")
cases <- list(
  c(list(case = "bcg", data = "bcg"), intercept_only),
  list(case = "bcg_ablat", data = "bcg", mods_r = "~ ablat", mods_py = "ablat",
       names_py = c("Intercept", "ablat"), newdata = data.frame(ablat = c(10, 33, 55))),
  list(case = "bcg_ablat_year", data = "bcg", mods_r = "~ ablat + year",
       mods_py = "ablat + year", names_py = c("Intercept", "ablat", "year"),
       newdata = data.frame(ablat = c(10, 50, 33), year = c(1950, 1970, 1980))),
  c(list(case = "sim", data = "sim"), intercept_only),
  list(case = "sim_dose", data = "sim", mods_r = "~ dose", mods_py = "dose",
       names_py = c("Intercept", "dose"), newdata = data.frame(dose = c(0, 1, 2))),
  list(case = "sim_dose_design", data = "sim", mods_r = "~ dose + design",
       mods_py = "dose + C(design)",
       names_py = c("Intercept", "dose", "C(design)[T.rct]", "C(design)[T.registry]"),
       newdata = data.frame(dose = c(0.5, 1.5, 1), design = c("cohort", "rct", "registry"))),
  c(list(case = "sim_homog", data = "sim_homog"), intercept_only)
)
methods <- c("REML", "ML", "DL", "PM")
tests <- c("z", "knha")

null_na <- function(x) if (is.null(x)) NA else x
squish <- function(x) gsub("\\s+", " ", trimws(x))

## evaluate expr, collecting warnings (muffled) into the environment's `warns`
collect <- function(expr, warns) {
  withCallingHandlers(expr, warning = function(w) {
    warns$list <- c(warns$list, squish(conditionMessage(w)))
    invokeRestart("muffleWarning")
  })
}

fit_rma <- function(d, ds, cs, method, test, tau2 = NULL) {
  args <- list(yi = d[[ds$effect]], vi = d[[ds$variance]], data = d, method = method,
               test = test, control = ctrl, slab = d[[ds$study]])
  if (!is.null(cs$mods_r)) args$mods <- as.formula(cs$mods_r)
  if (!is.null(tau2)) args$tau2 <- tau2
  do.call(rma, args)
}

new_design <- function(d, cs) {
  f <- as.formula(cs$mods_r)
  mf <- model.frame(f, d)
  nd <- cs$newdata
  for (nm in names(nd)) if (is.factor(d[[nm]])) nd[[nm]] <- factor(nd[[nm]], levels(d[[nm]]))
  X <- model.matrix(terms(mf), nd, xlev = .getXlevels(terms(mf), mf))
  X[, colnames(X) != "(Intercept)", drop = FALSE]
}

stats_list <- function(fs) as.list(setNames(fs, c("ll", "dev", "AIC", "BIC", "AICc")))

one_fit <- function(cs, method, test) {
  ds <- datasets[[cs$data]]
  d <- ds$frame
  warns <- new.env()
  warns$list <- character(0)
  res <- collect(fit_rma(d, ds, cs, method, test), warns)
  ci <- collect(confint(res, control = ci_ctrl), warns)
  pr <- if (is.null(cs$mods_r)) predict(res) else predict(res, newmods = new_design(d, cs))
  bl <- blup(res)
  rt <- collect(regtest(res), warns)
  out <- list(
    case = cs$case, data = cs$data, data_file = ds$file, effect = ds$effect,
    variance = ds$variance, study = ds$study, mods_r = null_na(cs$mods_r),
    mods_py = null_na(cs$mods_py), method = method, test = test,
    call = sprintf("rma(%s, %s, mods = %s, data = %s, method = \"%s\", test = \"%s\")",
                   ds$effect, ds$variance, if (is.null(cs$mods_r)) "NULL" else cs$mods_r,
                   cs$data, method, test),
    k = res$k, p = res$p, parms = res$parms,
    names = I(rownames(res$beta)), names_py = I(cs$names_py), beta = I(c(res$beta)), se = I(res$se),
    zval = I(res$zval), pval = I(res$pval), ci_lb = I(res$ci.lb), ci_ub = I(res$ci.ub),
    vb = unname(res$vb), ddf = null_na(res$ddf), s2w = res$s2w,
    tau2 = res$tau2, se_tau2 = res$se.tau2, I2 = res$I2, H2 = res$H2, vt = res$vt,
    QE = res$QE, QEp = res$QEp, QM = res$QM, QMp = res$QMp, QMdf = I(res$QMdf),
    btt = I(res$btt),
    fitstats = list(ML = stats_list(res$fit.stats$ML), REML = stats_list(res$fit.stats$REML)),
    logLik = as.numeric(logLik(res)), AIC = AIC(res), BIC = BIC(res),
    confint = list(
      rows = I(rownames(ci$random)),
      estimate = I(unname(ci$random[, "estimate"])),
      ci_lb = I(unname(ci$random[, "ci.lb"])),
      ci_ub = I(unname(ci$random[, "ci.ub"])),
      ci_null = ci$ci.null, lb_sign = ci$lb.sign, ub_sign = ci$ub.sign),
    predict = list(
      newdata = if (is.null(cs$newdata)) NA else as.list(cs$newdata),
      newmods = if (is.null(cs$mods_r)) NA else unname(new_design(d, cs)),
      pred = I(c(pr$pred)), se = I(c(pr$se)), ci_lb = I(c(pr$ci.lb)),
      ci_ub = I(c(pr$ci.ub)), pi_lb = I(c(pr$pi.lb)), pi_ub = I(c(pr$pi.ub))),
    blup = list(study = I(as.character(bl$slab)), pred = I(bl$pred), se = I(bl$se),
                pi_lb = I(bl$pi.lb), pi_ub = I(bl$pi.ub)),
    regtest = list(model = rt$model, predictor = rt$predictor, zval = rt$zval,
                   pval = rt$pval, ddf = null_na(rt$ddf), est = null_na(rt$est),
                   ci_lb = null_na(rt$ci.lb), ci_ub = null_na(rt$ci.ub),
                   fit_tau2 = rt$fit$tau2, fit_beta = I(c(rt$fit$beta)),
                   fit_se = I(rt$fit$se))
  )
  if (is.null(cs$mods_r)) {
    l1 <- collect(leave1out(res), warns)
    out$leave1out <- list(study = I(as.character(l1$slab)), estimate = I(l1$estimate),
                          se = I(l1$se), zval = I(l1[[3]]), pval = I(l1$pval),
                          ci_lb = I(l1$ci.lb), ci_ub = I(l1$ci.ub), Q = I(l1$Q),
                          Qp = I(l1$Qp), tau2 = I(l1$tau2), I2 = I(l1$I2), H2 = I(l1$H2))
  } else {
    out$leave1out <- NA
  }
  if (method %in% c("REML", "ML")) {
    ll_at <- function(t2) as.numeric(logLik(suppressWarnings(
      fit_rma(d, ds, cs, method, test, tau2 = t2))))
    opt <- optimize(ll_at, c(0, 10 * res$tau2 + 1), maximum = TRUE, tol = 1e-12)
    best <- if (ll_at(0) > opt$objective) list(maximum = 0, objective = ll_at(0)) else opt
    out$check_optimum <- list(tau2 = best$maximum, logLik = best$objective,
                              gain = best$objective - out$logLik)
  } else {
    out$check_optimum <- NA
  }
  out$warnings <- I(warns$list)
  out
}

fits <- list()
for (cs in cases) for (method in methods) for (test in tests) {
  fits[[length(fits) + 1]] <- one_fit(cs, method, test)
  f <- fits[[length(fits)]]
  cat(sprintf("%-16s %-4s %-4s tau2 = %.10g  beta1 = %.10g  warnings: %d\n", f$case,
              f$method, f$test, f$tau2, f$beta[1], length(f$warnings)))
}

data_out <- lapply(datasets, function(ds) list(
  file = ds$file, effect = ds$effect, variance = ds$variance, study = ds$study,
  yi = I(as.numeric(ds$frame[[ds$effect]])), vi = I(as.numeric(ds$frame[[ds$variance]])),
  labels = I(as.character(ds$frame[[ds$study]]))))

out <- list(
  meta = list(
    R = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    metadat = as.character(packageVersion("metadat")),
    jsonlite = as.character(packageVersion("jsonlite")),
    date = format(Sys.time(), "%Y-%m-%d"),
    control = "rma(..., control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))",
    confint_control = "confint(res, control = list(tol = 1e-12))",
    escalc = "bcg: escalc(measure = 'RR', ai = tpos, bi = tneg, ci = cpos, di = cneg)",
    notes = paste(
      "One case per (data, mods, method, test). predict() without moderators is the",
      "pooled effect; with moderators it is at predict$newmods (model.matrix of",
      "predict$newdata without the intercept). regtest(res) is metafor's default",
      "(model = 'rma', predictor = 'sei': the standard error added as a moderator to",
      "the fitted model, same method and test); est/ci_lb/ci_ub (the limit estimate)",
      "only without moderators. leave1out only without moderators. check_optimum:",
      "optimize() of logLik over tau2 (REML/ML only); gain = its logLik minus the",
      "stored one.")),
  data = data_out,
  cases = fits
)
write_reference(out, out_file)
cat("wrote", out_file, "\n")
