## emmeans references for mixedext's marginal_means() / contrasts() (issue #22).
##
## Run from the repository root, after make_trial_data.py:
##     Rscript tests/reference/emmeans_reference.R
## Writes tests/reference/emmeans_reference.json (~20 s).
##
## Models (data tests/reference/data/trial.csv, factors made with factor(): sorted levels,
## arm high < low < placebo, visit V1..V4, sex F < M):
##   lmm      lmerTest::lmer(y ~ arm * visit + sex + baseline + (1 | centre/patient), REML)
##   lmm_sum  the same with contrasts = list(arm, visit, sex = "contr.sum") (patsy's
##            C(x, Sum)): the same fit, other coefficients, the same marginal means
##   glmm     glmer(yb ~ arm + visit + (1 | centre), binomial, Laplace)
## lmer fits follow lmer_reference.R (common.R's two tight controls, lower REML criterion
## kept); glmer follows glmer_reference.R (tight bobyqa and nloptwrap, tolPwrss = 1e-12,
## higher log-likelihood kept).
##
## Each case states its Python call in `python` (the arguments of marginal_means() or
## contrasts()) and its R call in `call`; `rows` are the summary rows with emmeans' columns
## renamed (emmean / prob -> estimate, SE -> se, lower.CL / asymp.LCL -> lower,
## upper.CL / asymp.UCL -> upper, odds.ratio -> estimate, t.ratio / z.ratio -> stat,
## p.value -> p_value); df "Inf" is emmeans' asymptotic df. Contrast rows also carry
## `p_unadjusted` (the same summary with adjust = "none"). `messages` are emmeans'
## summary annotations and any message or warning raised by the calls.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(emmeans)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))
data_file <- file.path("tests", "reference", "data", "trial.csv")
out_file <- file.path("tests", "reference", "emmeans_reference.json")

d <- read.csv(data_file, stringsAsFactors = FALSE)
for (f in c("centre", "patient", "arm", "visit", "sex")) d[[f]] <- factor(d[[f]])


## --- fits ------------------------------------------------------------------------------
f_lmm <- "y ~ arm * visit + sex + baseline + (1 | centre/patient)"
f_glmm <- "yb ~ arm + visit + (1 | centre)"
sum_contrasts <- list(arm = "contr.sum", visit = "contr.sum", sex = "contr.sum")

fit_lmm <- function(contrasts) {
  fits <- lapply(lmer_tight_controls(), function(ctrl)
    quietly(lmerTest::lmer(as.formula(f_lmm), data = d, REML = TRUE, control = ctrl,
                           contrasts = contrasts)))
  crits <- sapply(fits, function(f) -2 * as.numeric(logLik(f$value)))
  best <- which.min(crits)
  list(model = fits[[best]]$value, optimizer = names(fits)[best],
       crits = as.list(crits), msgs = fits[[best]]$msgs)
}

glmer_controls <- list(
  bobyqa = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5, rhoend = 1e-10),
                        tolPwrss = 1e-12),
  nloptwrap = glmerControl(optimizer = "nloptwrap",
                           optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14,
                                          maxeval = 1e5), tolPwrss = 1e-12))
fit_glmm <- function() {
  fits <- lapply(glmer_controls, function(ctrl)
    quietly(glmer(as.formula(f_glmm), data = d, family = binomial, nAGQ = 1,
                  control = ctrl)))
  crits <- sapply(fits, function(f) -2 * as.numeric(logLik(f$value)))
  best <- which.min(crits)
  list(model = fits[[best]]$value, optimizer = names(fits)[best],
       crits = as.list(crits), msgs = fits[[best]]$msgs)
}

fits <- list(lmm = fit_lmm(NULL), lmm_sum = fit_lmm(sum_contrasts), glmm = fit_glmm())
formulas <- list(lmm = f_lmm, lmm_sum = f_lmm, glmm = f_glmm)
python_formulas <- list(
  lmm = f_lmm,
  lmm_sum = "y ~ C(arm, Sum) * C(visit, Sum) + C(sex, Sum) + baseline + (1 | centre/patient)",
  glmm = f_glmm)

## glmer's Hessian-based SEs (lme4's finite differences, step 1e-4) against numDeriv's
## Richardson Hessian of the same deviance function: they differ by up to 4e-4 relative, the
## size of the noise of any finite-difference Hessian of the Laplace deviance here
numderiv_se <- function(m) {
  if (!requireNamespace("numDeriv", quietly = TRUE)) return(NA)
  dev <- update(m, devFunOnly = TRUE)
  x <- c(getME(m, "theta"), fixef(m))
  V <- 2 * solve(numDeriv::hessian(dev, x))
  unname(sqrt(diag(V))[-seq_along(getME(m, "theta"))])
}

model_info <- function(name) {
  fit <- fits[[name]]
  m <- fit$model
  list(formula = formulas[[name]], python_formula = python_formulas[[name]],
       contrasts = if (name == "lmm_sum") sum_contrasts else NULL,
       llf = as.numeric(logLik(m)), fixef_names = names(fixef(m)),
       fixef = unname(fixef(m)), fixef_se = unname(sqrt(diag(as.matrix(vcov(m))))),
       fixef_se_numderiv = if (name == "glmm") numderiv_se(m) else NA,
       theta = unname(getME(m, "theta")), optimizer = fit$optimizer,
       optimizer_crits = fit$crits, messages = I(fit$msgs))
}

## --- cases -----------------------------------------------------------------------------
## python: the arguments of the Python call (specs, by, at, weights, ddf, type, alpha,
## method, adjust, ref); R arguments are derived from them.
## an argument left out is NA in the list (JSON null: the Python default); by stays a list
## (JSON array) and at a named list (JSON object)
or_na <- function(x) if (is.null(x)) NA else x
mean_case <- function(name, model, specs, by = NULL, at = NULL, weights = "equal",
                      ddf = "satterthwaite", type = "link", alpha = 0.05)
  list(name = name, kind = "means", model = model,
       python = list(specs = I(specs), by = if (is.null(by)) NA else I(by), at = or_na(at),
                     weights = weights, ddf = if (model == "glmm") NA else ddf,
                     type = type, alpha = alpha))
contrast_case <- function(name, model, specs, method, adjust = NULL, by = NULL, at = NULL,
                          ddf = "satterthwaite", type = "link", ref = NULL)
  list(name = name, kind = "contrasts", model = model,
       python = list(specs = I(specs), by = if (is.null(by)) NA else I(by), at = or_na(at),
                     ddf = if (model == "glmm") NA else ddf, type = type,
                     method = method, adjust = or_na(adjust), ref = or_na(ref)))

cases <- list(
  mean_case("arm_by_visit_satterthwaite", "lmm", "arm", by = "visit"),
  mean_case("arm_by_visit_kenward_roger", "lmm", "arm", by = "visit", ddf = "kenward-roger"),
  mean_case("arm_satterthwaite", "lmm", "arm"),
  mean_case("arm_kenward_roger", "lmm", "arm", ddf = "kenward-roger"),
  mean_case("arm_proportional", "lmm", "arm", weights = "proportional"),
  mean_case("arm_by_visit_proportional", "lmm", "arm", by = "visit",
            weights = "proportional", ddf = "kenward-roger"),
  mean_case("arm_at_baseline_60", "lmm", "arm", at = list(baseline = 60)),
  mean_case("arm_at_sex_M", "lmm", "arm", at = list(sex = "M"), ddf = "kenward-roger"),
  mean_case("arm_at_visits_V1_V4", "lmm", "arm", at = list(visit = c("V1", "V4"))),
  mean_case("arm_sex", "lmm", c("arm", "sex"), ddf = "kenward-roger"),
  mean_case("visit_alpha_0.1", "lmm", "visit", alpha = 0.1),
  mean_case("sum_arm_by_visit_satterthwaite", "lmm_sum", "arm", by = "visit"),
  mean_case("sum_arm_kenward_roger", "lmm_sum", "arm", ddf = "kenward-roger"),
  contrast_case("pairs_arm_by_visit_tukey", "lmm", "arm", "pairwise", by = "visit"),
  contrast_case("pairs_arm_by_visit_tukey_kr", "lmm", "arm", "pairwise", by = "visit",
                ddf = "kenward-roger"),
  contrast_case("pairs_arm_by_visit_holm", "lmm", "arm", "pairwise", adjust = "holm",
                by = "visit"),
  contrast_case("pairs_arm_by_visit_bonferroni", "lmm", "arm", "pairwise",
                adjust = "bonferroni", by = "visit"),
  contrast_case("pairs_arm_by_visit_sidak", "lmm", "arm", "pairwise", adjust = "sidak",
                by = "visit"),
  contrast_case("pairs_arm_by_visit_none", "lmm", "arm", "pairwise", adjust = "none",
                by = "visit"),
  contrast_case("pairs_arm_tukey", "lmm", "arm", "pairwise"),
  contrast_case("trt_vs_ctrl_arm_dunnettx", "lmm", "arm", "trt.vs.ctrl", ref = "placebo"),
  contrast_case("trt_vs_ctrl_arm_by_visit_dunnettx_kr", "lmm", "arm", "trt.vs.ctrl",
                by = "visit", ddf = "kenward-roger", ref = "placebo"),
  contrast_case("trt_vs_ctrl_arm_first_level", "lmm", "arm", "trt.vs.ctrl"),
  contrast_case("poly_visit_by_arm", "lmm", "visit", "poly", by = "arm"),
  contrast_case("custom_arm", "lmm", "arm",
                list(`active - placebo` = c(0.5, 0.5, -1), `high - low` = c(1, -1, 0))),
  contrast_case("custom_arm_holm", "lmm", "arm",
                list(`active - placebo` = c(0.5, 0.5, -1), `high - low` = c(1, -1, 0)),
                adjust = "holm"),
  contrast_case("pairs_arm_sex_tukey_kr", "lmm", c("arm", "sex"), "pairwise",
                ddf = "kenward-roger"),
  contrast_case("sum_pairs_arm_by_visit_tukey", "lmm_sum", "arm", "pairwise", by = "visit"),
  mean_case("glmm_arm_response", "glmm", "arm", type = "response"),
  mean_case("glmm_arm_link", "glmm", "arm"),
  mean_case("glmm_arm_by_visit_response", "glmm", "arm", by = "visit", type = "response"),
  contrast_case("glmm_pairs_arm_odds_ratios", "glmm", "arm", "pairwise", type = "response"),
  contrast_case("glmm_pairs_arm_link", "glmm", "arm", "pairwise"),
  contrast_case("glmm_trt_vs_ctrl_odds_ratios", "glmm", "arm", "trt.vs.ctrl",
                type = "response", ref = "placebo"),
  contrast_case("glmm_pairs_arm_by_visit_odds_ratios_holm", "glmm", "arm", "pairwise",
                adjust = "holm", by = "visit", type = "response")
)

## --- running a case --------------------------------------------------------------------
is_na <- function(x) length(x) == 1 && !is.list(x) && is.na(x)
spec_formula <- function(py) {
  rhs <- paste(py$specs, collapse = " * ")
  if (!is_na(py$by)) rhs <- paste(rhs, "|", paste(py$by, collapse = " + "))
  as.formula(paste("~", rhs))
}
dep <- function(x) paste(deparse(x, width.cutoff = 500L), collapse = " ")

emmeans_args <- function(cs) {
  py <- cs$python
  args <- list(fits[[cs$model]]$model, spec_formula(py))
  if (!is_na(py$at)) args$at <- py$at
  if (!is.null(py$weights) && py$weights != "equal") args$weights <- py$weights
  if (cs$model != "glmm") args$lmer.df <- py$ddf
  args
}
emmeans_call <- function(cs) {
  a <- emmeans_args(cs)
  parts <- c(if (cs$model == "glmm") "g" else "m", dep(a[[2]]))
  for (nm in setdiff(names(a), "")) parts <- c(parts, paste(nm, "=", dep(a[[nm]])))
  sprintf("emmeans(%s)", paste(parts, collapse = ", "))
}

num <- function(x) if (is.infinite(x)) "Inf" else unname(x)
level_list <- function(s, i, vars) {
  if (length(vars) == 0) return(NA)
  out <- list()
  for (v in vars) out[[v]] <- as.character(s[[v]][i])
  out
}

run_means <- function(cs) {
  py <- cs$python
  r <- quietly({
    em <- do.call(emmeans, emmeans_args(cs))
    summary(em, type = py$type, level = 1 - py$alpha)
  })
  s <- r$value
  est <- attr(s, "estName")
  cl <- attr(s, "clNames")
  vars <- c(py$specs, if (is_na(py$by)) NULL else py$by)
  rows <- lapply(seq_len(nrow(s)), function(i) list(
    levels = level_list(s, i, vars), estimate = s[[est]][i], se = s$SE[i],
    df = num(s$df[i]), lower = s[[cl[1]]][i], upper = s[[cl[2]]][i]))
  call <- sprintf("summary(%s, type = %s, level = %s)", emmeans_call(cs), dep(py$type),
                  1 - py$alpha)
  list(call = call, estimate_column = est, rows = rows,
       messages = I(c(attr(s, "mesg"), r$msgs)))
}

run_contrasts <- function(cs) {
  py <- cs$python
  con_args <- function(adjust) {
    a <- list(method = py$method)
    if (!is_na(py$ref)) a$ref <- py$ref
    if (!is_na(adjust)) a$adjust <- adjust
    a
  }
  r <- quietly({
    em <- do.call(emmeans, emmeans_args(cs))
    con <- do.call(contrast, c(list(em), con_args(py$adjust)))
    list(adjusted = summary(con, type = py$type),
         unadjusted = summary(do.call(contrast, c(list(em), con_args("none"))),
                              type = py$type))
  })
  s <- r$value$adjusted
  u <- r$value$unadjusted
  est <- attr(s, "estName")
  stat <- intersect(c("t.ratio", "z.ratio"), names(s))
  rows <- lapply(seq_len(nrow(s)), function(i) list(
    contrast = as.character(s$contrast[i]), by = level_list(s, i, if (is_na(py$by)) NULL else py$by),
    estimate = s[[est]][i], se = s$SE[i], df = num(s$df[i]), stat = s[[stat]][i],
    p_value = s$p.value[i], p_unadjusted = u$p.value[i]))
  ca <- con_args(py$adjust)
  call <- sprintf("summary(contrast(%s, %s), type = %s)", emmeans_call(cs),
                  paste(names(ca), "=", sapply(ca, dep), collapse = ", "), dep(py$type))
  list(call = call, estimate_column = est, stat_column = stat, rows = rows,
       messages = I(c(attr(s, "mesg"), r$msgs)))
}

out_cases <- lapply(cases, function(cs) {
  res <- if (cs$kind == "means") run_means(cs) else run_contrasts(cs)
  c(cs, res)
})

## the reference grid of lmm (counts per cell in .wgt.) and the covariate mean
rg <- ref_grid(fits$lmm$model)
grid <- rg@grid

## emmeans' regrid = "response" for comparison: the grid's probabilities averaged over
## visit, SE by the delta method and a symmetric interval on the probability scale
## (mixedext's type = "response" is summary(type = "response"): the average logit
## back-transformed, the interval back-transformed from the logit scale)
rr <- summary(emmeans(fits$glmm$model, ~ arm, regrid = "response"))
regrid_rows <- lapply(seq_len(nrow(rr)), function(i) list(
  arm = as.character(rr$arm[i]), estimate = rr$prob[i], se = rr$SE[i],
  lower = rr$asymp.LCL[i], upper = rr$asymp.UCL[i]))

out <- list(
  meta = c(package_versions(c("lme4", "lmerTest", "pbkrtest", "emmeans", "Matrix",
                              "jsonlite")), list(
    date = as.character(Sys.Date()),
    script = "tests/reference/emmeans_reference.R",
    data_file = data_file,
    nobs = nrow(d),
    notes = I(c(
      "emmeans' own default lmer.df is kenward-roger; every lmm case names its ddf",
      "df 'Inf' = asymptotic (glmer): z tests",
      "baseline_mean is the mean over the fitted rows, where emmeans puts covariates")))),
  models = lapply(setNames(names(fits), names(fits)), model_info),
  baseline_mean = mean(d$baseline),
  reference_grid = list(
    factors = I(setdiff(names(grid), c("baseline", ".wgt."))),
    rows = lapply(seq_len(nrow(grid)), function(i) list(
      arm = as.character(grid$arm[i]), visit = as.character(grid$visit[i]),
      sex = as.character(grid$sex[i]), baseline = grid$baseline[i],
      count = grid$.wgt.[i]))),
  regrid_for_comparison = list(
    call = "summary(emmeans(g, ~ arm, regrid = \"response\"))", rows = regrid_rows),
  cases = out_cases)

write_reference(out, out_file)
cat("wrote", out_file, "with", length(out_cases), "cases\n")
