## performance / insight references for mixedext's ICC, variance-share and R² reporting.
##
## Run from the repository root, after export_datasets.R and make_sim_data.py:
##     Rscript tests/reference/performance_reference.R
## Writes tests/reference/performance_reference.json.
##
## Every linear case is fitted with lmer(REML = TRUE) exactly as in lmer_reference.R: two
## tightly controlled optimizers (bobyqa, nloptwrap) from lme4's default start, the fit with
## the lower REML criterion kept. The binomial case (cbpp) is fitted with
## glmer(family = binomial, nAGQ = 1) and
## glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)); as a check it is
## re-fitted with tight nloptwrap settings from the bobyqa optimum (check_deviance_diff).
##
## For each fit the script records
##   performance::icc(m)                  -> ICC_adjusted, ICC_unadjusted (and ICC_conditional,
##                                           performance's alias of the unadjusted one)
##   performance::icc(m, by_group = TRUE) -> rows (Group, ICC); ICC = var.intercept[g] /
##                                           (var.random + var.residual), i.e. the share of each
##                                           level's intercept variance, NOT a cumulative ICC
##   performance::r2_nakagawa(m)          -> R2_marginal, R2_conditional
##   insight::get_variance(m)             -> every component it returns
##   as.data.frame(VarCorr(m)), fixef(m)
## together with every warning, message and console output each call produced, and
## cross-checks recomputed from VarCorr (see "checks" and "derived_from_varcorr").

suppressPackageStartupMessages({
  library(lme4)
  library(performance)
  library(insight)
  library(jsonlite)
})

source(file.path("tests", "reference", "common.R"))

classic_dir <- file.path("mixedext", "datasets", "data")
sim_dir <- file.path("tests", "reference", "data")
out_file <- file.path("tests", "reference", "performance_reference.json")

## identical to lmer_reference.R
lctrl <- lmer_tight_controls()
gctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
gctrl_check <- list(
  ## from the reported optimum (theta and fixef)
  nloptwrap_from_optimum = glmerControl(optimizer = "nloptwrap",
                                        optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14,
                                                       maxeval = 1e5)),
  ## from lme4's default start, with lmer_reference.R's bobyqa settings
  bobyqa_tight_default_start = glmerControl(optimizer = "bobyqa",
                                            optCtrl = list(rhobeg = 2e-4, rhoend = 2e-10,
                                                           maxfun = 1e5)))


## nested: grouping factors from outermost to innermost, with R's VarCorr group names
cases <- list(
  sleepstudy_intercept = c(list(formula = "Reaction ~ Days + (1 | Subject)", family = "gaussian",
                                nested = c(Subject = "Subject")),
                           classic("sleepstudy", "sleepstudy.csv", "Subject")),
  sleepstudy_slope = c(list(formula = "Reaction ~ Days + (Days | Subject)", family = "gaussian"),
                       classic("sleepstudy", "sleepstudy.csv", "Subject")),
  pastes_nested = c(list(formula = "strength ~ 1 + (1 | batch/cask)", family = "gaussian",
                         nested = c(batch = "batch", `batch/cask` = "cask:batch")),
                    classic("pastes", "pastes.csv", c("batch", "cask", "sample"))),
  nested3 = c(list(formula = "y ~ x + (1 | a/b/c)", family = "gaussian",
                   nested = c(a = "a", `a/b` = "b:a", `a/b/c` = "c:(b:a)")),
              simulated("nested3.csv", c("a", "b", "c"))),
  ri_unequal = c(list(formula = "y ~ x + (1 | unit)", family = "gaussian",
                      nested = c(unit = "unit")),
                 simulated("ri_unequal.csv", "unit")),
  penicillin_crossed = c(list(formula = "diameter ~ 1 + (1 | plate) + (1 | sample)",
                              family = "gaussian"),
                         classic("penicillin", "penicillin.csv", c("plate", "sample"))),
  cbpp_logistic = c(list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                         family = "binomial", nested = c(herd = "herd")),
                    classic("cbpp", "cbpp.csv", c("herd", "period")))
)

read_case_data <- function(cs) {
  d <- read.csv(cs$path, stringsAsFactors = FALSE)
  for (f in cs$factors) d[[f]] <- factor(d[[f]])
  d
}

## condition text with R's console line-wrapping undone


fit_lmer <- function(formula, data, optimizer, start = NULL)
  quietly(lmer(as.formula(formula), data = data, REML = TRUE,
               control = lctrl[[optimizer]], start = start))

fit_glmer <- function(formula, data, control, start = NULL)
  quietly(glmer(as.formula(formula), data = data, family = binomial, nAGQ = 1,
                control = control, start = start))

crit <- function(m) -2 * as.numeric(logLik(m))

## named numeric vector -> named list (keeps names in JSON), scalar -> scalar
as_json_num <- function(x) {
  if (is.null(x)) return(NULL)
  if (!is.null(names(x)) && length(x) >= 1) as.list(x) else unname(x)
}

## printed representation of a performance object, as the user sees it
printed <- function(x) {
  out <- quietly(print(x))
  c(out$console, out$msgs)
}

results <- list()
for (cname in names(cases)) {
  cs <- cases[[cname]]
  d <- read_case_data(cs)

  ## ---- fit --------------------------------------------------------------------------
  if (cs$family == "gaussian") {
    fits <- lapply(names(lctrl), function(o) fit_lmer(cs$formula, d, o))
    names(fits) <- names(lctrl)
    crits <- sapply(fits, function(f) crit(f$value))
    best_name <- names(lctrl)[which.min(crits)]
    other_name <- setdiff(names(lctrl), best_name)
    best <- fits[[best_name]]
    m <- best$value
    check <- fit_lmer(cs$formula, d, other_name,
                      start = list(theta = getME(m, "theta")))
    fit_info <- list(
      fit_function = "lmer", reml = TRUE,
      control = sprintf("lmerControl as in lmer_reference.R; kept: %s", best_name),
      optimizer = best_name, optimizer_crits = as.list(crits),
      check_optimizer = other_name,
      check_deviance_diff = abs(crit(check$value) - crit(m)))
  } else {
    best <- fit_glmer(cs$formula, d, gctrl)
    m <- best$value
    checks_g <- list(
      nloptwrap_from_optimum = fit_glmer(cs$formula, d, gctrl_check$nloptwrap_from_optimum,
                                         start = list(theta = getME(m, "theta"),
                                                      fixef = fixef(m))),
      bobyqa_tight_default_start = fit_glmer(cs$formula, d,
                                             gctrl_check$bobyqa_tight_default_start))
    fit_info <- list(
      fit_function = "glmer", glm_family = "binomial(link = 'logit')", nAGQ = 1,
      control = "glmerControl(optimizer = 'bobyqa', optCtrl = list(maxfun = 1e5))",
      optimizer = "bobyqa",
      check_optimizer = "nloptwrap (xtol_abs = 1e-12, ftol_abs = 1e-14, maxeval = 1e5) from the reported optimum",
      check_deviance_diff = abs(crit(checks_g[[1]]$value) - crit(m)),
      check_fits = lapply(checks_g, function(f) list(
        crit_minus_reported = crit(f$value) - crit(m),
        theta = unname(getME(f$value, "theta")),
        icc_adjusted = performance::icc(f$value)$ICC_adjusted,
        messages = I(f$msgs))))
  }
  lme4_msgs <- as.character(unlist(m@optinfo$conv$lme4$messages))
  fit_msgs <- unique(c(lme4_msgs, sub("^(warning|message): ", "", best$msgs)))
  converged <- m@optinfo$conv$opt == 0 && !any(grepl("^warning:", best$msgs)) &&
    all(grepl("boundary \\(singular\\) fit", fit_msgs))

  ## ---- performance / insight -----------------------------------------------------------
  ic <- quietly(performance::icc(m))
  icg <- quietly(performance::icc(m, by_group = TRUE))
  r2 <- quietly(performance::r2_nakagawa(m))
  gv <- quietly(insight::get_variance(m))
  v <- gv$value

  icc_out <- list(
    ICC_adjusted = ic$value$ICC_adjusted,
    ICC_unadjusted = ic$value$ICC_unadjusted,
    ICC_conditional = ic$value$ICC_conditional,
    messages = I(ic$msgs), console = I(ic$console), printed = I(printed(ic$value)))
  icg_out <- list(
    rows = lapply(seq_len(nrow(icg$value)), function(i)
      list(Group = icg$value$Group[i], ICC = icg$value$ICC[i])),
    what = "ICC[g] = var.intercept[g] / (var.random + var.residual): per-level share of the intercept variance (sigma2_g / total), not cumulative; groups in R's VarCorr order (innermost first)",
    messages = I(icg$msgs), console = I(icg$console), printed = I(printed(icg$value)))
  r2_out <- list(
    R2_marginal = unname(r2$value$R2_marginal),
    R2_conditional = unname(r2$value$R2_conditional),
    messages = I(r2$msgs), console = I(r2$console), printed = I(printed(r2$value)))
  gv_out <- lapply(v, as_json_num)
  gv_out$messages <- I(gv$msgs)
  gv_out$console <- I(gv$console)

  ## ---- VarCorr, fixef -------------------------------------------------------------------
  vc <- as.data.frame(VarCorr(m))
  varcorr <- varcorr_rows(m)
  fe <- fixef(m)

  ## ---- cross-checks from VarCorr -------------------------------------------------------
  sig2_e <- if (cs$family == "gaussian") sigma(m)^2 else pi^2 / 3
  checks <- list(
    icc_adjusted_from_get_variance = v$var.random / (v$var.random + v$var.residual),
    icc_unadjusted_from_get_variance =
      v$var.random / (v$var.fixed + v$var.random + v$var.residual),
    r2_marginal_from_get_variance =
      v$var.fixed / (v$var.fixed + v$var.random + v$var.residual),
    r2_conditional_from_get_variance =
      (v$var.fixed + v$var.random) / (v$var.fixed + v$var.random + v$var.residual),
    var_fixed_recomputed_n_minus_1 = var(as.vector(model.matrix(m) %*% fe)),
    var_fixed_recomputed_n = mean((as.vector(model.matrix(m) %*% fe) -
                                     mean(model.matrix(m) %*% fe))^2),
    residual_variance_used = sig2_e)
  intercept_only <- all(is.na(vc$var1) | vc$var1 == "(Intercept)") && all(is.na(vc$var2))
  derived <- NULL
  if (intercept_only) {
    re_rows <- vc[vc$grp != "Residual", ]
    s2 <- setNames(re_rows$vcov, re_rows$grp)
    total <- sum(s2) + sig2_e
    shares <- s2 / total
    checks$var_random_equals_sum_varcorr <- abs(v$var.random - sum(s2))
    checks$var_residual_equals_sigma2e <- abs(v$var.residual - sig2_e)
    checks$icc_adjusted_minus_varcorr <- abs(ic$value$ICC_adjusted - sum(s2) / total)
    checks$by_group_minus_varcorr_shares <-
      max(abs(icg$value$ICC - unname(shares[icg$value$Group])))
    checks$shares_plus_residual_share <- sum(icg$value$ICC) + sig2_e / total
    derived <- list(
      what = "computed here from VarCorr, not by performance: total T = sum(sigma2) + sigma2_e (pi^2/3 for the logit model); share = sigma2_j / T; for nested levels (Snijders & Bosker, outermost first, mixedext names) icc_cumulative[j] = (sigma2_1 + ... + sigma2_j) / T",
      total = total,
      residual_share = sig2_e / total,
      share = as.list(shares))
    if (!is.null(cs$nested)) {
      s2_out <- s2[unname(cs$nested)]  # outermost first
      derived$levels_outermost_first <- I(names(cs$nested))
      derived$r_group_names <- I(unname(cs$nested))
      derived$share_by_level <- as.list(setNames(unname(s2_out / total), names(cs$nested)))
      derived$icc_cumulative <- as.list(setNames(cumsum(unname(s2_out)) / total,
                                                 names(cs$nested)))
    }
  } else {
    ## random slope: insight's var.random = mean over rows of z_i' Sigma z_i, z_i = (1, Days)
    S <- VarCorr(m)[[1]]
    Z <- cbind(1, d$Days)
    vr <- mean(rowSums((Z %*% S) * Z))
    checks$var_random_recomputed_mean_zSz <- vr
    checks$var_random_minus_recomputed <- abs(v$var.random - vr)
    checks$icc_adjusted_minus_recomputed <-
      abs(ic$value$ICC_adjusted - vr / (vr + sigma(m)^2))
    checks$by_group_intercept_share <- S[1, 1] / (v$var.random + v$var.residual)
  }

  entry <- c(
    list(case = cname, data = cs$data, data_file = cs$path, formula = cs$formula,
         family = cs$family, nobs = nobs(m), llf = as.numeric(logLik(m))),
    fit_info,
    list(singular = isSingular(m), converged = converged,
         fit_messages = I(as.character(fit_msgs)),
         icc = icc_out, icc_by_group = icg_out, r2_nakagawa = r2_out,
         get_variance = gv_out,
         varcorr = varcorr,
         fixef = as.list(fe),
         sigma = sigma(m),
         checks = checks))
  if (!is.null(derived)) entry$derived_from_varcorr <- derived
  results[[length(results) + 1]] <- entry

  cat(sprintf("%-22s llf=%.6f ICC_adj=%.6f ICC_unadj=%.6f R2m=%.6f R2c=%.6f msgs=%d/%d/%d/%d check=%.1e\n",
              cname, entry$llf, icc_out$ICC_adjusted, icc_out$ICC_unadjusted,
              r2_out$R2_marginal, r2_out$R2_conditional,
              length(ic$msgs) + length(ic$console), length(icg$msgs) + length(icg$console),
              length(r2$msgs) + length(r2$console), length(gv$msgs) + length(gv$console),
              fit_info$check_deviance_diff))
  cat("    by_group:", paste(sprintf("%s=%.6f", icg$value$Group, icg$value$ICC),
                             collapse = " "), "\n")
  for (mm in c(ic$msgs, ic$console, icg$msgs, icg$console, r2$msgs, r2$console,
               gv$msgs, gv$console, fit_msgs))
    cat("    note:", mm, "\n")
}

out <- list(
  meta = list(
    r_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4")),
    performance_version = as.character(packageVersion("performance")),
    insight_version = as.character(packageVersion("insight")),
    jsonlite_version = as.character(packageVersion("jsonlite")),
    matrix_version = as.character(packageVersion("Matrix")),
    date = format(Sys.time(), "%Y-%m-%d"),
    script = "tests/reference/performance_reference.R",
    notes = I(c(
      "All linear fits: lmer(REML = TRUE) with the two controls of lmer_reference.R, lower REML criterion kept (llf equals lmer_reference.json's REML llf).",
      "cbpp_logistic: glmer(binomial, nAGQ = 1, glmerControl(optimizer = 'bobyqa', optCtrl = list(maxfun = 1e5))); check_fits: a tight nloptwrap re-fit from the reported optimum and a tight bobyqa fit (rhobeg = 2e-4, rhoend = 2e-10) from the default start, with their -2 logLik minus the reported one (positive = worse); check_deviance_diff = |that difference| for the nloptwrap re-fit.",
      "performance::icc: ICC_adjusted = var.random / (var.random + var.residual); ICC_unadjusted = ICC_conditional = var.random / (var.fixed + var.random + var.residual).",
      "performance::icc(by_group = TRUE): ICC[g] = var.intercept[g] / (var.random + var.residual), the share sigma2_g / total of each grouping factor (nested: each level separately, not cumulative). Rows in R's order (innermost first, e.g. cask:batch before batch).",
      "performance::r2_nakagawa: R2_marginal = var.fixed / (var.fixed + var.random + var.residual); R2_conditional = (var.fixed + var.random) / (same).",
      "insight::get_variance: var.fixed = var(X %*% beta) with the n - 1 denominator (stats::var), over the model-frame rows (unweighted by binomial size); var.random = sum over random terms of mean_i z_i' Sigma z_i (for intercept-only terms, the sum of the intercept variances); var.residual = var.distribution + var.dispersion; var.distribution = sigma^2 (gaussian) or pi^2/3 (binomial logit); var.intercept = per-group intercept variances.",
      "messages / console: warnings and messages raised (whitespace and R's line wrapping collapsed to single spaces), and text written to the console, by each call (collected, not printed); printed: print() output of the returned object.",
      "derived_from_varcorr is computed by this script (not by performance): shares sigma2_j / T and the nested cumulative ICCs (Snijders & Bosker) with mixedext's level names."
    ))
  ),
  cases = results
)

write_reference(out, out_file)
cat("wrote", out_file, "\n")
